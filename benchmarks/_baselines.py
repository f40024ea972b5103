"""The baselines the library is measured against, in the same run.

* ``RawJob`` / ``RawCheckpointPage``: plain msgspec Structs of the same shape as the
  library's models, with none of its leniency (plain strings for enums, strict decoding).
* ``floor_*``: the least a client can do: one bare aiohttp ClientSession and one cached
  msgspec Decoder, nothing else (no retries, no limits, no error mapping).
"""

from __future__ import annotations

from typing import Any

import aiohttp
import msgspec


class RawError(msgspec.Struct):
    code: str
    message: str
    param: str | None = None


class RawHyperparameters(msgspec.Struct):
    batch_size: int = 8
    learning_rate: float = 1e-05
    n_epochs: int = 3
    warmup_ratio: float = 0.0
    weight_decay: float = 0.0
    packing: bool = True
    max_grad_norm: float = 1.0
    context_length: int = 8192
    lora: bool = False
    lora_r: int = 8
    lora_alpha: int = 8
    lora_dropout: float = 0.0


class RawSupervised(msgspec.Struct):
    hyperparameters: RawHyperparameters = msgspec.field(default_factory=RawHyperparameters)


class RawMethod(msgspec.Struct):
    type: str = "supervised"
    supervised: RawSupervised | None = None
    spec_draft: dict[str, Any] | None = None


class RawWandb(msgspec.Struct):
    project: str
    name: str | None = None
    entity: str | None = None
    tags: list[str] = []


class RawMlflow(msgspec.Struct):
    tracking_uri: str
    experiment_name: str | None = None
    run_name: str | None = None
    tags: dict[str, str] = {}


class RawHf(msgspec.Struct):
    output_repo_name: str


class RawIntegration(msgspec.Struct):
    type: str
    wandb: RawWandb | None = None
    mlflow: RawMlflow | None = None
    hf: RawHf | None = None


class RawCheckpointSource(msgspec.Struct):
    type: str | None = None
    repo: str | None = None
    revision: str | None = None


class RawJob(msgspec.Struct):
    id: str
    created_at: int
    model: str
    status: str
    training_file: str
    object: str = "fine_tuning.job"
    error: RawError | None = None
    finished_at: int | None = None
    hyperparameters: RawHyperparameters | None = None
    method: RawMethod | None = None
    integrations: list[RawIntegration] | None = None
    from_checkpoint: RawCheckpointSource | None = None
    organization_id: str = ""
    result_files: list[str] = []
    seed: int = 0
    suffix: str | None = None
    trained_tokens: int | None = None
    validation_file: str | None = None
    estimated_finish: int | None = None
    trained_steps: int | None = None
    total_steps: int | None = None


class RawMetrics(msgspec.Struct):
    step: float | None = None
    train_loss: float | None = None
    train_mean_token_accuracy: float | None = None
    valid_loss: float | None = None
    valid_mean_token_accuracy: float | None = None
    full_valid_loss: float | None = None
    full_valid_mean_token_accuracy: float | None = None


class RawCheckpoint(msgspec.Struct):
    id: str
    created_at: int
    fine_tuned_model_checkpoint: str
    fine_tuning_job_id: str
    step_number: int
    metrics: RawMetrics
    object: str = "fine_tuning.job.checkpoint"
    result_files: list[str] = []


class RawCheckpointPage(msgspec.Struct):
    data: list[RawCheckpoint]
    has_more: bool = False
    first_id: str | None = None
    last_id: str | None = None
    object: str = "list"


class RawEvent(msgspec.Struct):
    id: str
    created_at: int
    level: str
    message: str
    object: str = "fine_tuning.job.event"
    data: Any = None
    type: str | None = None


class RawEventPage(msgspec.Struct):
    data: list[RawEvent]
    has_more: bool = False


raw_job_decoder = msgspec.json.Decoder(RawJob)
raw_checkpoint_page_decoder = msgspec.json.Decoder(RawCheckpointPage)
raw_event_page_decoder = msgspec.json.Decoder(RawEventPage)


def floor_client(max_connections: int = 100) -> aiohttp.ClientSession:
    """A bare aiohttp session with the same pool size as the library's default."""
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=max_connections),
        headers={"Authorization": "Bearer bench-key"},
    )


async def floor_get_job(client: aiohttp.ClientSession, base_url: str, job_id: str) -> RawJob:
    async with client.get(f"{base_url}/v1/fine_tuning/jobs/{job_id}") as response:
        return raw_job_decoder.decode(await response.read())


async def floor_list_events(
    client: aiohttp.ClientSession, base_url: str, job_id: str, after: str | None, limit: int
) -> RawEventPage:
    query = f"?limit={limit}" + (f"&after={after}" if after else "")
    async with client.get(f"{base_url}/v1/fine_tuning/jobs/{job_id}/events{query}") as response:
        return raw_event_page_decoder.decode(await response.read())

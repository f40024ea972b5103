"""Unit tests for nebius_ft_async._models: decoding, leniency and re-encoding."""

from __future__ import annotations

import gc
import math
from datetime import UTC, datetime
from typing import Any

import msgspec
import pytest

from nebius_ft_async._models import (
    CheckpointSource,
    DatasetFileResult,
    EventLevel,
    EventType,
    FineTuningCheckpoint,
    FineTuningJob,
    FineTuningJobCheckpoint,
    FineTuningJobEvent,
    JobStatus,
    MethodConfig,
    Metrics,
    Page,
    SpecDraftHyperparameters,
    SupervisedHyperparameters,
    checkpoint_decoder,
    checkpoint_page_decoder,
    event_page_decoder,
    job_decoder,
    operation_results_decoder,
    operation_results_from,
    utc_datetime,
)


def encode(body: Any) -> bytes:
    return msgspec.json.encode(body)


def minimal_job(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": "ftjob-1",
        "created_at": 1767225600,
        "model": "meta-llama/Llama-3.1-8B-Instruct",
        "status": "queued",
        "training_file": "file-train",
    }
    body.update(overrides)
    return body


def full_job(**overrides: Any) -> dict[str, Any]:
    """A job shaped like the spec, with extra fields at every level the client does not model."""
    body: dict[str, Any] = {
        "id": "ftjob-abc123",
        "object": "fine_tuning.job",
        "created_at": 1767225600,
        "finished_at": 1767229200,
        "model": "meta-llama/Llama-3.1-8B-Instruct",
        "fine_tuned_model": "ft:llama:ftjob-abc123",
        "organization_id": "org-123",
        "status": "failed",
        "training_file": "file-train",
        "validation_file": "file-valid",
        "result_files": ["file-result-1", "file-result-2"],
        "seed": 42,
        "suffix": "support-bot",
        "trained_tokens": 120000,
        "trained_steps": 40,
        "total_steps": 100,
        "estimated_finish": 1767229300,
        "error": {
            "code": "invalid_training_file",
            "message": "Line 3 is not valid JSON",
            "param": "training_file",
            "extra_error_field": 1,
        },
        "hyperparameters": {
            "batch_size": 16,
            "learning_rate": 2e-05,
            "n_epochs": 2,
            "warmup_ratio": 0.1,
            "weight_decay": 0.01,
            "packing": False,
            "max_grad_norm": 0.5,
            "context_length": 16384,
            "lora": True,
            "lora_r": 16,
            "lora_alpha": 32,
            "lora_dropout": 0.05,
            "future_knob": "x",
        },
        "method": {
            "type": "supervised",
            "supervised": {
                "hyperparameters": {"batch_size": 16, "n_epochs": 2, "lora": True, "new": 1},
                "extra": True,
            },
            "extra_method_field": [1, 2],
        },
        "integrations": [
            {
                "type": "wandb",
                "wandb": {
                    "project": "ft",
                    "name": "run-1",
                    "entity": "team",
                    "tags": ["a", "b"],
                    "api_key_hint": "***",
                },
            },
            {
                "type": "mlflow",
                "mlflow": {
                    "tracking_uri": "https://mlflow.example",
                    "experiment_name": "exp",
                    "run_name": None,
                    "tags": {"team": "nlp"},
                },
            },
            {"type": "hf", "hf": {"output_repo_name": "me/model", "private": True}},
        ],
        "from_checkpoint": {"type": "hf", "repo": "me/base", "revision": "main", "extra": 0},
        "user_provided_suffix": "support-bot",
    }
    body.update(overrides)
    return body


def checkpoint_body(index: int, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": f"ftckpt-{index}",
        "object": "fine_tuning.job.checkpoint",
        "created_at": 1767225600 + index,
        "fine_tuned_model_checkpoint": f"ft:llama:ftjob-abc123:ckpt-step-{index * 10}",
        "fine_tuning_job_id": "ftjob-abc123",
        "step_number": index * 10,
        "metrics": {
            "step": float(index * 10),
            "train_loss": 0.5,
            "train_mean_token_accuracy": 0.8,
            "valid_loss": 0.6,
            "valid_mean_token_accuracy": 0.75,
            "full_valid_loss": None,
            "full_valid_mean_token_accuracy": None,
            "perplexity": 1.9,
        },
        "unknown_checkpoint_field": {"nested": True},
    }
    body.update(overrides)
    return body


def event_body(index: int, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": f"ftevent-{index}",
        "object": "fine_tuning.job.event",
        "created_at": 1767225600 + index,
        "level": "info",
        "message": f"Step {index}/100",
        "data": {"step": index, "train_loss": 0.25},
        "type": "metrics",
        "job_id": "ftjob-abc123",
    }
    body.update(overrides)
    return body


# --- a full job -------------------------------------------------------------------------


def test_full_job_decodes_top_level_fields() -> None:
    job = job_decoder.decode(encode(full_job()))

    assert isinstance(job, FineTuningJob)
    assert job.id == "ftjob-abc123"
    assert job.object == "fine_tuning.job"
    assert job.created_at == 1767225600
    assert job.finished_at == 1767229200
    assert job.model == "meta-llama/Llama-3.1-8B-Instruct"
    assert job.organization_id == "org-123"
    assert job.status is JobStatus.FAILED
    assert job.is_terminal is True
    assert job.training_file == "file-train"
    assert job.validation_file == "file-valid"
    assert job.result_files == ["file-result-1", "file-result-2"]
    assert job.seed == 42
    assert job.suffix == "support-bot"
    assert job.trained_tokens == 120000
    assert job.trained_steps == 40
    assert job.total_steps == 100
    assert job.estimated_finish == 1767229300


def test_decoded_models_are_left_out_of_the_cycle_collector() -> None:
    job = job_decoder.decode(encode(full_job()))

    assert not gc.is_tracked(job)
    assert job.hyperparameters is not None
    assert not gc.is_tracked(job.hyperparameters)


def test_full_job_decodes_error() -> None:
    job = job_decoder.decode(encode(full_job()))

    assert job.error is not None
    assert job.error.code == "invalid_training_file"
    assert job.error.message == "Line 3 is not valid JSON"
    assert job.error.param == "training_file"


def test_full_job_decodes_hyperparameters() -> None:
    job = job_decoder.decode(encode(full_job()))

    assert job.hyperparameters == SupervisedHyperparameters(
        batch_size=16,
        learning_rate=2e-05,
        n_epochs=2,
        warmup_ratio=0.1,
        weight_decay=0.01,
        packing=False,
        max_grad_norm=0.5,
        context_length=16384,
        lora=True,
        lora_r=16,
        lora_alpha=32,
        lora_dropout=0.05,
    )


def test_supervised_method_decodes_with_defaults_for_missing_hyperparameters() -> None:
    job = job_decoder.decode(encode(full_job()))

    assert job.method is not None
    assert job.method.type == "supervised"
    assert job.method.spec_draft is None
    assert job.method.supervised is not None
    hp = job.method.supervised.hyperparameters
    assert (hp.batch_size, hp.n_epochs, hp.lora) == (16, 2, True)
    # Fields the server left out get the API's defaults.
    assert hp.learning_rate == 1e-05
    assert hp.context_length == 8192
    assert hp.lora_r == 8


def test_spec_draft_method_decodes() -> None:
    method = {
        "type": "spec-draft",
        "spec_draft": {
            "hyperparameters": {
                "batch_size": 4,
                "learning_rate": 0.001,
                "n_epochs": 2,
                "architecture": "eagle3_custom",
                "num_decoding_heads": 5,
                "loss": {"type": "lk_hybrid", "alpha": 0.3},
            }
        },
    }
    job = job_decoder.decode(encode(full_job(method=method)))

    assert job.method is not None
    assert job.method.type == "spec-draft"
    assert job.method.supervised is None
    assert job.method.spec_draft is not None
    hp = job.method.spec_draft.hyperparameters
    assert isinstance(hp, SpecDraftHyperparameters)
    assert hp.batch_size == 4
    assert hp.learning_rate == 0.001
    assert hp.n_epochs == 2
    assert hp.architecture == "eagle3_custom"
    assert hp.num_decoding_heads == 5
    assert hp.loss is not None
    assert hp.loss.type == "lk_hybrid"
    assert hp.context_length == 8192  # default


def test_spec_draft_hyperparameters_defaults() -> None:
    method = {"type": "spec-draft", "spec_draft": {"hyperparameters": {}}}
    job = job_decoder.decode(encode(full_job(method=method)))

    assert job.method is not None
    assert job.method.spec_draft is not None
    hp = job.method.spec_draft.hyperparameters
    assert hp.learning_rate == 0.0075
    assert hp.n_epochs == 1
    assert hp.architecture == "eagle3_original"
    assert hp.num_decoding_heads == 3
    assert hp.loss is None


def test_integrations_decode_each_kind() -> None:
    job = job_decoder.decode(encode(full_job()))

    assert job.integrations is not None
    wandb, mlflow, hf = job.integrations

    assert wandb.type == "wandb"
    assert wandb.mlflow is None and wandb.hf is None
    assert wandb.wandb is not None
    assert wandb.wandb.project == "ft"
    assert wandb.wandb.name == "run-1"
    assert wandb.wandb.entity == "team"
    assert wandb.wandb.tags == ["a", "b"]

    assert mlflow.type == "mlflow"
    assert mlflow.wandb is None and mlflow.hf is None
    assert mlflow.mlflow is not None
    assert mlflow.mlflow.tracking_uri == "https://mlflow.example"
    assert mlflow.mlflow.experiment_name == "exp"
    assert mlflow.mlflow.run_name is None
    assert mlflow.mlflow.tags == {"team": "nlp"}

    assert hf.type == "hf"
    assert hf.wandb is None and hf.mlflow is None
    assert hf.hf is not None
    assert hf.hf.output_repo_name == "me/model"


def test_from_checkpoint_hf() -> None:
    job = job_decoder.decode(encode(full_job()))

    assert job.from_checkpoint == CheckpointSource(type="hf", repo="me/base", revision="main")


def test_from_checkpoint_ft() -> None:
    job = job_decoder.decode(encode(full_job(from_checkpoint={"type": "ft"})))

    assert job.from_checkpoint == CheckpointSource(type="ft", repo=None, revision=None)


def test_from_checkpoint_hf_without_revision() -> None:
    body = full_job(from_checkpoint={"type": "hf", "repo": "me/base", "revision": None})
    job = job_decoder.decode(encode(body))

    assert job.from_checkpoint is not None
    assert job.from_checkpoint.repo == "me/base"
    assert job.from_checkpoint.revision is None


def test_missing_optional_fields_get_defaults() -> None:
    job = job_decoder.decode(encode(minimal_job()))

    assert job.object == "fine_tuning.job"
    assert job.error is None
    assert job.finished_at is None
    assert job.hyperparameters is None
    assert job.method is None
    assert job.integrations is None
    assert job.from_checkpoint is None
    assert job.organization_id == ""
    assert job.result_files == []
    assert job.seed == 0
    assert job.suffix is None
    assert job.trained_tokens is None
    assert job.validation_file is None
    assert job.estimated_finish is None
    assert job.trained_steps is None
    assert job.total_steps is None


def test_missing_required_field_is_rejected() -> None:
    body = minimal_job()
    del body["training_file"]

    with pytest.raises(msgspec.ValidationError, match="training_file"):
        job_decoder.decode(encode(body))


def test_empty_hyperparameters_object_gets_api_defaults() -> None:
    job = job_decoder.decode(encode(minimal_job(hyperparameters={})))

    assert job.hyperparameters == SupervisedHyperparameters()
    assert job.hyperparameters.batch_size == 8
    assert job.hyperparameters.learning_rate == 1e-05
    assert job.hyperparameters.packing is True


# --- leniency ---------------------------------------------------------------------------


def test_unknown_fields_everywhere_are_ignored() -> None:
    with_extras = job_decoder.decode(encode(full_job()))

    clean = full_job()
    del clean["fine_tuned_model"], clean["user_provided_suffix"]
    del clean["error"]["extra_error_field"]
    del clean["hyperparameters"]["future_knob"]
    del clean["method"]["extra_method_field"], clean["method"]["supervised"]["extra"]
    del clean["method"]["supervised"]["hyperparameters"]["new"]
    del clean["integrations"][0]["wandb"]["api_key_hint"]
    del clean["integrations"][2]["hf"]["private"]
    del clean["from_checkpoint"]["extra"]

    assert with_extras == job_decoder.decode(encode(clean))


def test_unknown_status_decodes_and_keeps_its_string() -> None:
    job = job_decoder.decode(encode(minimal_job(status="paused")))

    assert job.status == "paused"
    assert isinstance(job.status, JobStatus)
    assert job.status.value == "paused"
    assert job.is_terminal is False


def test_unknown_status_with_dashes_and_dots_decodes() -> None:
    job = job_decoder.decode(encode(minimal_job(status="waiting-for.gpu")))

    assert job.status == "waiting-for.gpu"
    assert job.is_terminal is False


@pytest.mark.parametrize(
    ("status", "terminal"),
    [
        ("validating_files", False),
        ("queued", False),
        ("running", False),
        ("succeeded", True),
        ("failed", True),
        ("cancelled", True),
        ("paused", False),
    ],
)
def test_job_is_terminal(status: str, terminal: bool) -> None:
    job = job_decoder.decode(encode(minimal_job(status=status)))

    assert job.is_terminal is terminal
    assert JobStatus(status).is_terminal is terminal


def test_terminal_statuses_are_exactly_succeeded_failed_cancelled() -> None:
    terminal = {status.value for status in JobStatus if status.is_terminal}

    assert terminal == {"succeeded", "failed", "cancelled"}


def test_unknown_event_level_and_type_decode() -> None:
    body = {"data": [event_body(1, level="debug", type="progress")], "has_more": False}
    page = event_page_decoder.decode(encode(body))

    event = page.data[0]
    assert event.level == "debug"
    assert isinstance(event.level, EventLevel)
    assert event.type == "progress"
    assert isinstance(event.type, EventType)


def test_unknown_method_type_decodes_and_keeps_its_string() -> None:
    method = {"type": "dpo", "dpo": {"hyperparameters": {"beta": 0.1}}}
    job = job_decoder.decode(encode(full_job(method=method)))

    assert job.method == MethodConfig(type="dpo", supervised=None, spec_draft=None)


def test_unknown_integration_type_decodes_and_keeps_its_string() -> None:
    integrations = [{"type": "comet", "comet": {"workspace": "w"}}]
    job = job_decoder.decode(encode(full_job(integrations=integrations)))

    assert job.integrations is not None
    (integration,) = job.integrations
    assert integration.type == "comet"
    assert integration.wandb is None
    assert integration.mlflow is None
    assert integration.hf is None


def test_out_of_range_numbers_decode() -> None:
    hyperparameters = {"batch_size": 1000, "lora_r": 1, "learning_rate": 5.0, "n_epochs": 0}
    job = job_decoder.decode(encode(minimal_job(hyperparameters=hyperparameters)))

    assert job.hyperparameters is not None
    assert job.hyperparameters.batch_size == 1000
    assert job.hyperparameters.lora_r == 1
    assert job.hyperparameters.learning_rate == 5.0
    assert job.hyperparameters.n_epochs == 0


def test_integral_floats_decode_to_int() -> None:
    body = minimal_job(created_at=1.7e9, trained_steps=100.0, total_steps=200.0)
    job = job_decoder.decode(encode(body))

    assert job.created_at == 1_700_000_000
    assert type(job.created_at) is int
    assert job.trained_steps == 100
    assert type(job.trained_steps) is int
    assert job.total_steps == 200
    assert type(job.total_steps) is int


def test_non_integral_float_is_rejected_for_int() -> None:
    with pytest.raises(msgspec.ValidationError, match="created_at"):
        job_decoder.decode(encode(minimal_job(created_at=1.5)))


# --- out-of-range numbers: decoding stays lenient, the helpers cope ----------------------

MAX_DIGITS = 4300  # Python's default limit for int <-> str, which msgspec follows
HUGE = 10 ** (MAX_DIGITS - 2)  # 4299 digits: decodes, with either sign
YEAR_9999_END = 253402300799  # 9999-12-31 23:59:59 UTC
YEAR_1_START = -62135596800  # 0001-01-01 00:00:00 UTC


def job_with(**numbers: Any) -> FineTuningJob:
    """A job decoded from JSON with these numbers: what a server could really send."""
    return job_decoder.decode(encode(minimal_job(**numbers)))


def test_huge_and_negative_ints_decode_without_range_checks() -> None:
    job = job_with(
        created_at=10**19,
        estimated_finish=-(10**19),
        finished_at=10**30,
        trained_steps=-3,
        total_steps=HUGE,
    )
    assert job.created_at == 10**19 and job.estimated_finish == -(10**19)
    assert job.finished_at == 10**30 and job.trained_steps == -3
    assert job.total_steps == HUGE


def test_numbers_msgspec_refuses_stay_decode_errors() -> None:
    # what the helpers below need not cope with: these never decode into a model
    too_long = b"1" + b"0" * MAX_DIGITS
    body = encode(minimal_job()).replace(b'"created_at":1767225600', b'"created_at":' + too_long)
    with pytest.raises(msgspec.ValidationError, match="out of range"):
        job_decoder.decode(body)
    for literal in (b"1e400", b"-1e400"):
        raw = encode(checkpoint_body(1)).replace(b'"train_loss":0.5', b'"train_loss":' + literal)
        with pytest.raises(msgspec.ValidationError, match="out of range"):
            checkpoint_decoder.decode(raw)
    with pytest.raises(msgspec.ValidationError, match="estimated_finish"):
        job_decoder.decode(encode(minimal_job(estimated_finish=1e17)))  # a float: not integral


def test_nan_and_infinity_decode_into_float_fields_from_strings() -> None:
    metrics = {"train_loss": "nan", "valid_loss": "inf", "step": "-inf"}
    checkpoint = checkpoint_decoder.decode(encode(checkpoint_body(1, metrics=metrics)))
    assert math.isnan(checkpoint.metrics.train_loss or 0.0)
    assert checkpoint.metrics.valid_loss == math.inf and checkpoint.metrics.step == -math.inf


@pytest.mark.parametrize(
    "estimated_finish",
    [10**17, 10**19, -(10**19), 10**30, HUGE, -HUGE, YEAR_9999_END + 1],
    ids=["1e17", "1e19", "-1e19", "1e30", "huge", "-huge", "year 10000"],
)
def test_eta_is_none_when_estimated_finish_cannot_be_a_datetime(estimated_finish: int) -> None:
    assert job_with(estimated_finish=estimated_finish).eta is None


@pytest.mark.parametrize(
    ("estimated_finish", "eta"),
    [
        (0, datetime(1970, 1, 1, tzinfo=UTC)),
        (-1, datetime(1969, 12, 31, 23, 59, 59, tzinfo=UTC)),
        (YEAR_9999_END, datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)),
        (YEAR_1_START, datetime(1, 1, 1, tzinfo=UTC)),
        ("1767229200", datetime(2026, 1, 1, 1, 0, tzinfo=UTC)),  # lenient: a numeric string
    ],
)
def test_eta_at_the_edges_of_the_datetime_range(estimated_finish: Any, eta: datetime) -> None:
    assert job_with(estimated_finish=estimated_finish).eta == eta


def test_eta_of_a_job_built_in_python_with_nan_or_infinity_is_none() -> None:
    # a Struct built in Python is not type checked: a float here must not raise either
    for value in (math.nan, math.inf, -math.inf, 1e300):
        job = FineTuningJob(
            id="j", created_at=0, model="m", status=JobStatus.RUNNING, training_file="f"
        )
        job.estimated_finish = value  # type: ignore[assignment]
        assert job.eta is None


def test_utc_datetime() -> None:
    assert utc_datetime(None) is None
    assert utc_datetime(1767225600) == datetime(2026, 1, 1, tzinfo=UTC)
    assert utc_datetime(1767225600.5) == datetime(2026, 1, 1, 0, 0, 0, 500000, tzinfo=UTC)
    assert utc_datetime(YEAR_1_START - 1) is None
    for value in (10**17, -(10**19), HUGE, math.nan, math.inf, 1e308):
        assert utc_datetime(value) is None
    for not_a_number in (True, "1767225600", [1]):
        assert utc_datetime(not_a_number) is None  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("trained", "total"),
    [(10, 0), (0, 0), (10, -5), (-10, -5), (10, -(10**30)), (None, 100), (10, None)],
)
def test_progress_is_none_without_a_total_above_zero(trained: Any, total: Any) -> None:
    assert job_with(trained_steps=trained, total_steps=total).progress is None


@pytest.mark.parametrize(
    ("trained", "total", "progress"),
    [
        (-3, 100, 0.0),  # below 0 counts as 0
        (-(10**19), 100, 0.0),
        (10**30, 100, 1.0),  # more than the total counts as 1
        (HUGE, 1, 1.0),  # beyond a float: no OverflowError
        (10**30, 4 * 10**30, 0.25),  # both beyond a C long
        (HUGE // 10, HUGE, 0.1),  # both beyond a float
        (1, HUGE, 0.0),  # too small for a float: 0.0
    ],
    ids=["negative", "-1e19", "1e30", "huge", "beyond C long", "beyond float", "tiny"],
)
def test_progress_with_out_of_range_steps(trained: int, total: int, progress: float) -> None:
    assert job_with(trained_steps=trained, total_steps=total).progress == progress


def test_progress_of_a_job_built_in_python_with_nan_or_infinity_is_none() -> None:
    for trained, total in [(math.nan, 100), (10, math.nan), (10, math.inf), (math.inf, 100)]:
        job = FineTuningJob(
            id="j", created_at=0, model="m", status=JobStatus.RUNNING, training_file="f"
        )
        job.trained_steps, job.total_steps = trained, total  # type: ignore[assignment]
        assert job.progress is None


def test_metrics_keep_out_of_range_and_non_numeric_values_as_sent() -> None:
    data = {"step": 10**30, "train_loss": "NaN", "valid_loss": None, "lr": [1], "n": -(10**400)}
    body = {"data": [event_body(1, data=data)]}
    event = event_page_decoder.decode(encode(body)).data[0]
    assert event.metrics == data


# --- re-encoding ------------------------------------------------------------------------


def test_to_builtins_gives_plain_json_ready_dicts() -> None:
    job = job_decoder.decode(encode(full_job()))

    builtins = msgspec.to_builtins(job)

    assert type(builtins) is dict
    assert type(builtins["status"]) is str
    assert builtins["status"] == "failed"
    assert type(builtins["hyperparameters"]) is dict
    assert builtins["hyperparameters"]["batch_size"] == 16
    assert type(builtins["integrations"][0]) is dict
    assert builtins["integrations"][0]["wandb"]["project"] == "ft"
    assert builtins["from_checkpoint"] == {"type": "hf", "repo": "me/base", "revision": "main"}
    assert builtins["error"]["code"] == "invalid_training_file"
    # Unknown input fields are not carried over.
    assert "fine_tuned_model" not in builtins
    assert "user_provided_suffix" not in builtins


def test_to_builtins_keeps_unknown_enum_strings_as_plain_str() -> None:
    job = job_decoder.decode(encode(minimal_job(status="paused")))

    builtins = msgspec.to_builtins(job)

    assert builtins["status"] == "paused"
    assert type(builtins["status"]) is str


def test_envelopes_encode_their_type_and_every_kind() -> None:
    job = job_decoder.decode(encode(full_job(from_checkpoint={"type": "ft"})))

    builtins = msgspec.to_builtins(job)

    assert builtins["from_checkpoint"] == {"type": "ft", "repo": None, "revision": None}
    assert builtins["integrations"][2] == {
        "type": "hf",
        "wandb": None,
        "mlflow": None,
        "hf": {"output_repo_name": "me/model"},
    }
    assert builtins["method"]["type"] == "supervised"
    assert builtins["method"]["spec_draft"] is None


@pytest.mark.parametrize(
    "body",
    [
        full_job(),
        full_job(status="paused", from_checkpoint={"type": "ft"}),
        full_job(method={"type": "spec-draft", "spec_draft": {"hyperparameters": {}}}),
        full_job(method={"type": "dpo"}, integrations=[{"type": "comet"}]),
        minimal_job(),
    ],
    ids=["full", "paused-ft", "spec-draft", "unknown-kinds", "minimal"],
)
def test_job_round_trips_through_json(body: dict[str, Any]) -> None:
    job = job_decoder.decode(encode(body))

    encoded = msgspec.json.encode(msgspec.to_builtins(job))
    again = job_decoder.decode(encoded)

    assert again == job
    assert msgspec.to_builtins(again) == msgspec.to_builtins(job)


def test_event_page_round_trips_through_json() -> None:
    body = {"data": [event_body(1), event_body(2, level="debug", type="progress")]}
    page = event_page_decoder.decode(encode(body))

    again = event_page_decoder.decode(msgspec.json.encode(msgspec.to_builtins(page)))

    assert again == page


def test_checkpoint_round_trips_through_json() -> None:
    checkpoint = checkpoint_decoder.decode(encode(checkpoint_body(3)))

    again = checkpoint_decoder.decode(msgspec.json.encode(msgspec.to_builtins(checkpoint)))

    assert again == checkpoint


# --- pages ------------------------------------------------------------------------------


def test_event_page_without_first_and_last_id() -> None:
    body = {
        "object": "list",
        "data": [
            event_body(1),
            event_body(2, level="error", type="message", data=None, message="Job failed"),
        ],
        "has_more": True,
    }
    page = event_page_decoder.decode(encode(body))

    assert isinstance(page, Page)
    assert page.has_more is True
    # left out by the server: the cursors come from the items, so after=page.last_id advances
    assert page.first_id == page.data[0].id
    assert page.last_id == page.data[-1].id
    assert len(page) == 2
    assert [event.id for event in page] == [page.first_id, page.last_id]
    assert page.object == "list"
    first, second = page.data
    assert isinstance(first, FineTuningJobEvent)
    assert first.id == "ftevent-1"
    assert first.created_at == 1767225601
    assert first.level is EventLevel.INFO
    assert first.type is EventType.METRICS
    assert first.data == {"step": 1, "train_loss": 0.25}
    assert first.object == "fine_tuning.job.event"
    assert second.level is EventLevel.ERROR
    assert second.type is EventType.MESSAGE
    assert second.data is None
    assert second.message == "Job failed"


def test_event_defaults_when_type_and_data_are_missing() -> None:
    event = event_body(1)
    del event["type"], event["data"], event["object"]
    page = event_page_decoder.decode(encode({"data": [event]}))

    assert page.has_more is False
    assert page.data[0].type is None
    assert page.data[0].data is None
    assert page.data[0].object == "fine_tuning.job.event"


def test_empty_event_page() -> None:
    page = event_page_decoder.decode(b'{"data": [], "has_more": false, "object": "list"}')

    assert page.data == []
    assert page.has_more is False


def test_checkpoint_decodes() -> None:
    checkpoint = checkpoint_decoder.decode(encode(checkpoint_body(2)))

    assert checkpoint == FineTuningJobCheckpoint(
        id="ftckpt-2",
        created_at=1767225602,
        fine_tuned_model_checkpoint="ft:llama:ftjob-abc123:ckpt-step-20",
        fine_tuning_job_id="ftjob-abc123",
        step_number=20,
        metrics=Metrics(
            step=20.0,
            train_loss=0.5,
            train_mean_token_accuracy=0.8,
            valid_loss=0.6,
            valid_mean_token_accuracy=0.75,
            full_valid_loss=None,
            full_valid_mean_token_accuracy=None,
        ),
        object="fine_tuning.job.checkpoint",
    )


def test_checkpoint_without_metrics_gets_empty_metrics() -> None:
    body = checkpoint_body(1)
    del body["metrics"]

    checkpoint = checkpoint_decoder.decode(encode(body))

    assert checkpoint.metrics == Metrics()
    assert checkpoint.metrics.train_loss is None


def test_checkpoint_page_decodes() -> None:
    body = {
        "object": "list",
        "data": [checkpoint_body(1), checkpoint_body(2)],
        "first_id": "ftckpt-1",
        "last_id": "ftckpt-2",
        "has_more": True,
    }
    page = checkpoint_page_decoder.decode(encode(body))

    assert [checkpoint.id for checkpoint in page.data] == ["ftckpt-1", "ftckpt-2"]
    assert all(isinstance(checkpoint, FineTuningJobCheckpoint) for checkpoint in page.data)
    assert [checkpoint.step_number for checkpoint in page.data] == [10, 20]
    assert page.first_id == "ftckpt-1"
    assert page.last_id == "ftckpt-2"
    assert page.has_more is True


# --- operation results ------------------------------------------------------------------


def test_operation_results_checkpoint_page() -> None:
    body = {
        "object": "list",
        "data": [
            checkpoint_body(1, result_files=["file-ckpt-1a", "file-ckpt-1b"]),
            checkpoint_body(2, result_files=["file-ckpt-2"]),
        ],
        "first_id": "ftckpt-1",
        "last_id": "ftckpt-2",
        "has_more": False,
    }

    result = operation_results_from(operation_results_decoder.decode(encode(body)))

    assert isinstance(result, Page)
    assert result.first_id == "ftckpt-1"
    assert result.last_id == "ftckpt-2"
    assert result.has_more is False
    assert result.object == "list"
    first, second = result.data
    assert isinstance(first, FineTuningCheckpoint)
    assert first.result_files == ["file-ckpt-1a", "file-ckpt-1b"]
    assert first.step_number == 10
    assert first.metrics.train_loss == 0.5
    assert second.result_files == ["file-ckpt-2"]


def test_operation_results_empty_checkpoint_page() -> None:
    body = {"object": "list", "data": [], "has_more": False}

    result = operation_results_from(operation_results_decoder.decode(encode(body)))

    assert isinstance(result, Page)
    assert result.data == []


def test_operation_results_dataset_file() -> None:
    body = {"file_id": "file-xyz", "extra": "ignored"}

    result = operation_results_from(operation_results_decoder.decode(encode(body)))

    assert result == DatasetFileResult(file_id="file-xyz")


def test_operation_results_body_with_both_shapes_is_a_page() -> None:
    body = {"file_id": "file-xyz", "data": [checkpoint_body(1, result_files=["f"])]}

    result = operation_results_from(operation_results_decoder.decode(encode(body)))

    assert isinstance(result, Page)
    assert [checkpoint.id for checkpoint in result.data] == ["ftckpt-1"]

"""Typed models for the fine-tuning API, and the decoders that build them.

Every object the API returns is declared here as a msgspec ``Struct``. The
models are plain declarations with a few small properties; they hold no I/O.

Decoding is lenient wherever the server may grow (the API marks every object
``additionalProperties: true``):

* unknown fields are ignored;
* an unknown ``status``, ``level`` or ``type`` value decodes to a new member of
  its enum that carries the server's string (``JobStatus("paused") == "paused"``);
* unions tagged by ``type`` (a job's method, its integrations and the checkpoint
  it started from) are decoded into one envelope Struct with a ``type`` string
  and one optional field per known kind, so a kind added by the server decodes
  with its ``type`` kept and no known payload set;
* numbers carry no range checks, and an integral float is accepted for an int.

So a field may hold any number the server sent: a timestamp past the year 9999, a negative
step count, an int too large for a float, or (from a string such as ``"nan"`` in a float
field) NaN or infinity. The helpers cope: ``FineTuningJob.eta``, ``FineTuningJob.progress`` and
``utc_datetime`` return ``None`` for a number they cannot turn into a datetime or a fraction,
and never raise.

``msgspec.to_builtins(model)`` turns any model into JSON-ready builtins.
"""

import enum
import math
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, Generic, TypeGuard, TypeVar

import msgspec

T = TypeVar("T")

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def utc_datetime(timestamp: float | None) -> datetime | None:
    """The UTC time of a unix timestamp in seconds, such as a model's ``created_at``.

    ``None`` when there is no timestamp or it cannot be a ``datetime``: outside the years 1
    to 9999, NaN or infinite, or not a number at all. Never raises, on any platform (negative
    timestamps within range are fine: they are before 1970).
    """
    if not _is_finite_number(timestamp):
        return None
    try:
        return _EPOCH + timedelta(seconds=timestamp)
    except (OverflowError, ValueError):  # beyond timedelta's or datetime's range
        return None


def _is_finite_number(value: object) -> TypeGuard[int | float]:
    """True for an int (not a bool) and for a finite float."""
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return True
    return isinstance(value, float) and math.isfinite(value)


class _OpenStrEnum(enum.StrEnum):
    """A string enum that turns an unknown value into a new member instead of failing."""

    @classmethod
    def _missing_(cls, value: object) -> Any:
        if not isinstance(value, str):
            return None
        member = str.__new__(cls, value)
        member._name_ = value.upper().replace("-", "_").replace(".", "_")
        member._value_ = value
        return member


class JobStatus(_OpenStrEnum):
    """Status of a fine-tuning job; values the server adds later decode too."""

    VALIDATING_FILES = "validating_files"
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def is_terminal(self) -> bool:
        """True for succeeded, failed and cancelled: the job will not change again."""
        return self in _TERMINAL_STATUSES


_TERMINAL_STATUSES = frozenset({JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED})


class EventLevel(_OpenStrEnum):
    """Severity of a job event."""

    INFO = "info"
    WARN = "warn"
    ERROR = "error"


class EventType(_OpenStrEnum):
    """Kind of a job event: a plain message, or training metrics in ``data``."""

    MESSAGE = "message"
    METRICS = "metrics"


class OperationStatus(_OpenStrEnum):
    """Status of an operation; ``unknown`` is not final."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    UNKNOWN = "unknown"

    @property
    def is_terminal(self) -> bool:
        """True for succeeded, failed and cancelled."""
        return self in _TERMINAL_OPERATION_STATUSES


_TERMINAL_OPERATION_STATUSES = frozenset(
    {OperationStatus.SUCCEEDED, OperationStatus.FAILED, OperationStatus.CANCELLED}
)


class OperationType(_OpenStrEnum):
    """What an operation does."""

    YQL = "yql"
    MATERIALIZE_HISTORY = "materialize_history"
    BATCH_INFERENCE = "batch_inference"
    FINETUNING = "finetuning"
    FILE_TO_DATASET = "file_to_dataset"
    DATASET_TO_FILE = "dataset_to_file"


class Model(msgspec.Struct, kw_only=True, gc=False):
    """Base of every model: keyword-only construction, shared configuration.

    Models are not tracked by Python's cycle collector (``gc=False``): a monitor decodes
    thousands of them a second, and they hold only data, so they cannot form a cycle unless
    one is made by hand (a model put inside one of its own lists), which would never be
    freed.
    """


class JobError(Model):
    """Why a job failed."""

    code: str
    message: str
    param: str | None = None


class SupervisedHyperparameters(Model):
    """Hyperparameters of supervised fine-tuning (defaults are the API's)."""

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


class SpecDraftLossParams(Model):
    """Loss of a speculative-decoding drafter (``kl``, ``lk_alpha``, ``lk_hybrid``, ...)."""

    type: str = "kl"


class SpecDraftHyperparameters(Model):
    """Hyperparameters of speculative-decoding drafter training (defaults are the API's)."""

    batch_size: int = 8
    learning_rate: float = 0.0075
    n_epochs: int = 1
    warmup_ratio: float = 0.0
    weight_decay: float = 0.0
    packing: bool = True
    max_grad_norm: float = 1.0
    context_length: int = 8192
    architecture: str = "eagle3_original"
    num_decoding_heads: int = 3
    loss: SpecDraftLossParams | None = None


class SupervisedConfig(Model):
    """The ``supervised`` payload of a method."""

    hyperparameters: SupervisedHyperparameters = msgspec.field(
        default_factory=SupervisedHyperparameters
    )


class SpecDraftConfig(Model):
    """The ``spec_draft`` payload of a method."""

    hyperparameters: SpecDraftHyperparameters = msgspec.field(
        default_factory=SpecDraftHyperparameters
    )


class MethodConfig(Model):
    """How a job trains: ``type`` is ``"supervised"`` or ``"spec-draft"`` (or a newer kind).

    The payload of the known kind is set; the others are ``None``.
    """

    type: str = "supervised"
    supervised: SupervisedConfig | None = None
    spec_draft: SpecDraftConfig | None = None


class WandbConfig(Model):
    """Weights & Biases reporting settings."""

    project: str
    name: str | None = None
    entity: str | None = None
    tags: list[str] = msgspec.field(default_factory=list)


class MlflowConfig(Model):
    """MLflow reporting settings."""

    tracking_uri: str
    experiment_name: str | None = None
    run_name: str | None = None
    tags: dict[str, str] = msgspec.field(default_factory=dict)


class HfExportConfig(Model):
    """Hugging Face export settings."""

    output_repo_name: str


class Integration(Model):
    """One integration of a job: ``type`` is ``"wandb"``, ``"mlflow"`` or ``"hf"`` (or newer).

    The payload of the known kind is set; the others are ``None``.
    """

    type: str
    wandb: WandbConfig | None = None
    mlflow: MlflowConfig | None = None
    hf: HfExportConfig | None = None


class CheckpointSource(Model):
    """Where a job started from: ``type`` ``"hf"`` (a Hugging Face repo) or ``"ft"``.

    ``repo`` and ``revision`` are set for a Hugging Face checkpoint.
    """

    type: str | None = None
    repo: str | None = None
    revision: str | None = None


class FineTuningJob(Model):
    """A fine-tuning job as returned by ``GET /v1/fine_tuning/jobs/{job_id}``."""

    id: str
    created_at: int
    model: str
    status: JobStatus
    training_file: str
    object: str = "fine_tuning.job"
    error: JobError | None = None
    finished_at: int | None = None
    hyperparameters: SupervisedHyperparameters | None = None
    method: MethodConfig | None = None
    integrations: list[Integration] | None = None
    from_checkpoint: CheckpointSource | None = None
    organization_id: str = ""
    result_files: list[str] = msgspec.field(default_factory=list)
    seed: int = 0
    suffix: str | None = None
    trained_tokens: int | None = None
    validation_file: str | None = None
    estimated_finish: int | None = None
    trained_steps: int | None = None
    total_steps: int | None = None

    @property
    def is_terminal(self) -> bool:
        """True once the job has succeeded, failed or been cancelled."""
        return self.status.is_terminal

    @property
    def progress(self) -> float | None:
        """Fraction of training done, 0.0 to 1.0, from ``trained_steps / total_steps``.

        ``None`` when either is unknown or not a finite number, or ``total_steps`` is not
        above 0. Trained steps below 0 count as 0.0, and more than the total as 1.0. Any int
        works, however large: the fraction is never computed from an out-of-range float.
        """
        trained, total = self.trained_steps, self.total_steps
        if not (_is_finite_number(trained) and _is_finite_number(total)):
            return None
        if total <= 0:
            return None
        if trained >= total:
            return 1.0
        if trained <= 0:
            return 0.0
        return trained / total  # 0 < trained < total: an int ratio below 1 cannot overflow

    @property
    def eta(self) -> datetime | None:
        """When the server expects the job to finish (``estimated_finish``, UTC), if it says.

        ``None`` too when ``estimated_finish`` cannot be a ``datetime`` (see ``utc_datetime``),
        such as ``10**17``, which is billions of years away.
        """
        return utc_datetime(self.estimated_finish)


class FineTuningJobEvent(Model):
    """One status update of a job; metrics events carry their numbers in ``data``."""

    id: str
    created_at: int
    level: EventLevel
    message: str
    object: str = "fine_tuning.job.event"
    data: Any = None
    type: EventType | None = None

    @property
    def metrics(self) -> dict[str, Any] | None:
        """The numbers of a metrics event (``step``, ``train_loss``, ...); ``None`` otherwise.

        The values are as the server sent them, unchecked: a value may be an int too large
        for a float, a string, ``None`` or anything else JSON can hold.
        """
        if self.type == EventType.METRICS and isinstance(self.data, dict):
            return self.data
        return None


class Metrics(Model):
    """Training and validation metrics at a checkpoint."""

    step: float | None = None
    train_loss: float | None = None
    train_mean_token_accuracy: float | None = None
    valid_loss: float | None = None
    valid_mean_token_accuracy: float | None = None
    full_valid_loss: float | None = None
    full_valid_mean_token_accuracy: float | None = None


class FineTuningJobCheckpoint(Model):
    """A checkpoint of a job, as listed under ``/v1/fine_tuning/jobs/{job_id}/checkpoints``.

    ``result_files`` (ids for ``download_file``) is only documented on an operation's
    checkpoints; it is kept here too when the server sends it, and empty otherwise.
    """

    id: str
    created_at: int
    fine_tuned_model_checkpoint: str
    fine_tuning_job_id: str
    step_number: int
    metrics: Metrics = msgspec.field(default_factory=Metrics)
    object: str = "fine_tuning.job.checkpoint"
    result_files: list[str] = msgspec.field(default_factory=list)


class FineTuningCheckpoint(FineTuningJobCheckpoint):
    """A checkpoint produced by a fine-tuning operation, with its downloadable files."""


class DatasetFileResult(Model):
    """The result of a dataset-to-file operation: the id of the file it wrote."""

    file_id: str


class Page(Model, Generic[T]):
    """One page of a list: its items and the cursor to the next page.

    Pass ``last_id`` (or the last item's ``id``) as ``after`` to get the next page
    while ``has_more`` is true.
    """

    data: list[T]
    has_more: bool = False
    first_id: str | None = None
    """The server's, else the first item's ``id``."""
    last_id: str | None = None
    """The server's, else the last item's ``id``: the ``after`` of the next page."""
    object: str = "list"

    def __post_init__(self) -> None:
        if self.data:  # a list whose server leaves the cursors out still has them
            if self.first_id is None:
                self.first_id = getattr(self.data[0], "id", None)
            if self.last_id is None:
                self.last_id = getattr(self.data[-1], "id", None)

    def __iter__(self) -> Iterator[T]:
        return iter(self.data)

    def __len__(self) -> int:
        return len(self.data)


class FileObject(Model):
    """An uploaded file (``/v1/files``)."""

    id: str
    bytes: int = 0
    created_at: int = 0
    filename: str = ""
    purpose: str = ""
    object: str = "file"
    status: str | None = None
    status_details: str | None = None

    @property
    def is_terminal(self) -> bool:
        """True once the server is done processing the file: ``status`` is ``processed`` or
        ``error`` (then ``status_details`` says why), or absent (nothing to wait for).

        The API documents ``status`` as a free string; any other value (``uploaded``, ...)
        means it is still being processed.
        """
        return self.status is None or self.status in FINAL_FILE_STATUSES


FINAL_FILE_STATUSES = frozenset({"processed", "error"})
"""The file statuses after which processing is over (the OpenAI-style values)."""


class FileLink(Model):
    """A download link for a file's content: ``GET /v1/files/{file_id}/link``.

    ``url`` is signed: whoever holds it can fetch the file until it expires, so its ``repr``
    shows the host only (``str(link.url)`` and ``msgspec.to_builtins`` give it whole).
    """

    url: str = ""

    def __repr__(self) -> str:
        return f"FileLink(url={shown_link(self.url)!r})"


def shown_link(url: str) -> str:
    """A signed link as it may be shown: its scheme and host, the rest elided."""
    scheme, _, rest = url.partition("://")
    host = rest.split("/", 1)[0].split("?", 1)[0].rpartition("@")[2]
    return f"{scheme}://{host}/…" if rest else "…"


class FileDeleted(Model):
    """The answer to ``DELETE /v1/files/{file_id}``."""

    id: str = ""
    object: str = "file"
    deleted: bool = True


class Operation(Model):
    """A dataset operation (``/v1/operations``): fine-tuning, dataset-to-file, ...

    ``params``, ``src`` and ``dst`` are kept as the server sends them: their shapes are only
    partly documented.
    """

    id: str
    type: OperationType | None = None
    status: OperationStatus = OperationStatus.UNKNOWN
    params: Any = None
    src: list[Any] = msgspec.field(default_factory=list)
    dst: list[Any] = msgspec.field(default_factory=list)
    created_at: int | None = None
    in_progress_at: int | None = None
    finished_at: int | None = None
    ai_project_id: str | None = None

    @property
    def is_terminal(self) -> bool:
        """True once the operation has succeeded, failed or been cancelled."""
        return self.status.is_terminal


class _OperationErrors(Model):
    data: list[str] = msgspec.field(default_factory=list)


class ValidationErrorItem(Model):
    """One entry of a 422 response's ``detail`` list: where, what and which rule."""

    loc: list[str | int] = msgspec.field(default_factory=list)
    msg: str = ""
    type: str = ""


class _OperationResults(Model):
    """Both shapes of ``GET /v1/operations/{id}/results`` in one Struct."""

    data: list[FineTuningCheckpoint] | None = None
    has_more: bool = False
    first_id: str | None = None
    last_id: str | None = None
    object: str = "list"
    file_id: str | None = None


def operation_results_from(
    body: _OperationResults,
) -> Page[FineTuningCheckpoint] | DatasetFileResult:
    """Tell the two shapes of an operation's results apart."""
    if body.file_id is not None and body.data is None:
        return DatasetFileResult(file_id=body.file_id)
    return Page(
        data=body.data or [],
        has_more=body.has_more,
        first_id=body.first_id,
        last_id=body.last_id,
        object=body.object,
    )


job_decoder = msgspec.json.Decoder(FineTuningJob, strict=False)
event_page_decoder = msgspec.json.Decoder(Page[FineTuningJobEvent], strict=False)
checkpoint_decoder = msgspec.json.Decoder(FineTuningJobCheckpoint, strict=False)
checkpoint_page_decoder = msgspec.json.Decoder(Page[FineTuningJobCheckpoint], strict=False)
operation_results_decoder = msgspec.json.Decoder(_OperationResults, strict=False)
job_page_decoder = msgspec.json.Decoder(Page[FineTuningJob], strict=False)
file_decoder = msgspec.json.Decoder(FileObject, strict=False)
file_page_decoder = msgspec.json.Decoder(Page[FileObject], strict=False)
file_link_decoder = msgspec.json.Decoder(FileLink, strict=False)
file_deleted_decoder = msgspec.json.Decoder(FileDeleted, strict=False)
operation_decoder = msgspec.json.Decoder(Operation, strict=False)
operation_page_decoder = msgspec.json.Decoder(Page[Operation], strict=False)
operation_errors_decoder = msgspec.json.Decoder(_OperationErrors, strict=False)


class ModelStatus(_OpenStrEnum):
    """Status of a custom model: ``validating``, then ``active`` or ``error``; ``deleted``
    after a delete. Values the server adds later decode too (and are not final)."""

    VALIDATING = "validating"
    ACTIVE = "active"
    ERROR = "error"
    DELETED = "deleted"

    @property
    def is_terminal(self) -> bool:
        """True for active, error and deleted: validation is over."""
        return self in _TERMINAL_MODEL_STATUSES


_TERMINAL_MODEL_STATUSES = frozenset({ModelStatus.ACTIVE, ModelStatus.ERROR, ModelStatus.DELETED})


class CustomModel(Model):
    """A custom (LoRA) model, as created, got, listed or deleted under ``/v0/models``.

    ``name`` is what the server returned, short (``my-model-hfjV``) or full
    (``meta-llama/Meta-Llama-3.1-8B-Instruct-LoRa:my-model-JuNN``); either addresses the
    model in ``get_model`` / ``delete_model`` and is the ``model`` of a chat completion. The
    API documents no required field beyond ``name``, so every other one may be missing.
    ``status_reason`` says why a model is in ``error``. ``created_at`` is unix seconds (the
    API also allows a string there).
    """

    name: str
    status: ModelStatus | None = None
    status_reason: str | None = None
    base_model: str | None = None
    source: str | None = None
    description: str | None = None
    created_at: int | str | None = None
    type: str | None = None
    job_id: str | None = None
    checkpoint_id: str | None = None
    file_id: str | None = None
    url: str | None = None
    vendor: str | None = None
    tags: list[str] | None = None
    use_cases: list[str] | None = None
    context_window_k: int | None = None
    size_b: float | None = None
    quality: int | None = None
    deprecated: bool | None = None

    @property
    def is_terminal(self) -> bool:
        """True once validation is over: the model is active, in error, or deleted."""
        return self.status is not None and self.status.is_terminal


custom_model_decoder = msgspec.json.Decoder(CustomModel, strict=False)
custom_model_list_decoder = msgspec.json.Decoder(list[CustomModel], strict=False)

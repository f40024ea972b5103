"""Typed request bodies for creating a fine-tuning job, and their client-side checks. Pure.

Request Structs leave out every field left at its default, so the server applies its own
defaults, and they never show a secret (a W&B key, an MLflow password, a Hugging Face token)
in their ``repr``. Wherever a typed Struct is accepted, a plain dict is accepted too, for
kinds and fields this library does not know yet.
"""

from typing import Any, ClassVar

import msgspec

from ._bounds import (
    SPEC_DRAFT_BOUNDS,
    SUPERVISED_BOUNDS,
    check_hyperparameters,
    check_mlflow,
)
from ._models import SpecDraftConfig, SupervisedConfig, SupervisedHyperparameters

MAX_SUFFIX_LENGTH = 64

_SECRET_FIELDS = frozenset({"api_key", "api_token", "password", "token"})


class _Masked:
    """Stands for a secret in a repr."""

    def __repr__(self) -> str:
        return "'***'"


_MASKED = _Masked()


def masked(name: str, value: Any) -> Any:
    """``value`` as it may be shown: secrets (also inside plain dicts and lists) masked."""
    if name in _SECRET_FIELDS and value is not None:
        return _MASKED
    if isinstance(value, dict):
        return {key: masked(str(key), item) for key, item in value.items()}
    if isinstance(value, list):
        return [masked("", item) for item in value]
    return value


class RequestModel(msgspec.Struct, kw_only=True, omit_defaults=True):
    """Base of request bodies: unset fields are not sent, secrets are masked when shown
    (``repr``, and rich's pretty printing, which would otherwise list every field)."""

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={value!r}" for name, value in self.__rich_repr__())
        return f"{type(self).__name__}({fields})"

    def __rich_repr__(self) -> list[tuple[str, Any]]:
        return [(name, masked(name, getattr(self, name))) for name in self.__struct_fields__]


class SupervisedMethod(RequestModel, tag_field="type", tag="supervised"):
    """Supervised fine-tuning: ``{"type": "supervised", "supervised": {...}}``."""

    supervised: SupervisedConfig = msgspec.field(default_factory=SupervisedConfig)


class SpecDraftMethod(RequestModel, tag_field="type", tag="spec-draft"):
    """Speculative-decoding drafter training: ``{"type": "spec-draft", "spec_draft": {...}}``."""

    spec_draft: SpecDraftConfig = msgspec.field(default_factory=SpecDraftConfig)


class WandbSettings(RequestModel):
    """Where a job reports to Weights & Biases (``api_key`` is sent, never shown)."""

    project: str
    api_key: str
    name: str | None = None
    entity: str | None = None
    tags: list[str] | None = None


class WandbIntegration(RequestModel, tag_field="type", tag="wandb"):
    """Report training to Weights & Biases."""

    wandb: WandbSettings


class MlflowSettings(RequestModel):
    """Where a job reports to MLflow (``password`` is sent, never shown).

    The API requires ``username``, ``password`` and ``certificate_file`` (``create_job``
    refuses a request without them before sending it); ``experiment_name`` and ``run_name``
    are always sent, as null when not given.
    """

    __always_sent__: ClassVar[frozenset[str]] = frozenset({"experiment_name", "run_name"})

    tracking_uri: str
    username: str | None = None
    password: str | None = None
    experiment_name: str | None = None
    run_name: str | None = None
    tags: dict[str, str] | None = None
    certificate_file: str | None = None
    certificate_file_id: str | None = None


class MlflowIntegration(RequestModel, tag_field="type", tag="mlflow"):
    """Report training to MLflow."""

    mlflow: MlflowSettings


class HfExportSettings(RequestModel):
    """Where a job exports the model on Hugging Face (``api_token`` is sent, never shown)."""

    output_repo_name: str
    api_token: str


class HfExportIntegration(RequestModel, tag_field="type", tag="hf"):
    """Export the trained model to Hugging Face."""

    hf: HfExportSettings


class HfCheckpoint(RequestModel, tag_field="type", tag="hf"):
    """Start from a Hugging Face repository (``token`` for a private one is never shown)."""

    repo: str
    revision: str | None = None
    token: str | None = None


class FtCheckpoint(RequestModel, tag_field="type", tag="ft"):
    """Start from a fine-tuning checkpoint: ``{"type": "ft"}``.

    The API documents no field beyond ``type`` for this kind; pass a plain dict to send
    fields it may take that this library does not know yet.
    """


CheckpointBody = HfCheckpoint | FtCheckpoint | dict[str, Any]

MethodBody = SupervisedMethod | SpecDraftMethod | dict[str, Any]
IntegrationBody = WandbIntegration | MlflowIntegration | HfExportIntegration | dict[str, Any]


class FineTuningRequest(RequestModel):
    """The body of ``POST /v1/fine_tuning/jobs``."""

    model: str
    training_file: str
    validation_file: str | None = None
    hyperparameters: SupervisedHyperparameters | dict[str, Any] | None = None
    method: MethodBody | None = None
    integrations: list[IntegrationBody] | None = None
    from_checkpoint: CheckpointBody | None = None
    seed: int | None = None
    suffix: str | None = None
    tags: list[str] | None = None
    extra_body: dict[str, Any] | None = None


def check_job_request(request: FineTuningRequest) -> None:
    """Refuse obviously wrong input before it is sent, with a message that names the field."""
    for name in ("model", "training_file"):
        value = getattr(request, name)
        if not isinstance(value, str) or not value.strip():
            raise ValueError(f"{name} is required: a non-empty string, got {value!r}")
    if request.suffix is not None and len(request.suffix) > MAX_SUFFIX_LENGTH:
        raise ValueError(
            f"suffix is {len(request.suffix)} characters long; the API allows at most "
            f"{MAX_SUFFIX_LENGTH}"
        )
    if request.validation_file is not None and not request.validation_file.strip():
        raise ValueError("validation_file must be a file id or None, got an empty string")
    check_hyperparameters("hyperparameters", request.hyperparameters, SUPERVISED_BOUNDS)
    method = request.method
    for kind, bounds in (("supervised", SUPERVISED_BOUNDS), ("spec_draft", SPEC_DRAFT_BOUNDS)):
        config = _member(_member(method, kind), "hyperparameters")
        check_hyperparameters(f"method.{kind}.hyperparameters", config, bounds)
    for index, integration in enumerate(request.integrations or ()):
        if isinstance(integration, MlflowIntegration) or (
            isinstance(integration, dict) and integration.get("type") == "mlflow"
        ):
            check_mlflow(f"integrations[{index}].mlflow", _member(integration, "mlflow"))


def _member(value: Any, name: str) -> Any:
    """``value.name`` or ``value[name]``, else ``None``."""
    if isinstance(value, dict):
        return value.get(name)
    return getattr(value, name, None)


class CustomModelRequest(RequestModel):
    """The body of ``POST /v0/models``: deploy a LoRA adapter as a custom model.

    ``source`` is ``"{job_id}:{checkpoint_id}"`` for a fine-tuning checkpoint, the file id of
    an uploaded adapter archive, or a Hugging Face repository URL.
    """

    name: str
    base_model: str
    source: str
    description: str | None = None


def require_text(name: str, value: object) -> None:
    """Refuse ``value`` unless it is a non-empty string, naming ``name``."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{name} is required: a non-empty string, got {value!r}")


def check_custom_model_request(request: CustomModelRequest) -> None:
    """Refuse a custom model without a name, base model or source, naming the field."""
    for name in ("name", "base_model", "source"):
        require_text(name, getattr(request, name))
    if request.description is not None and not isinstance(request.description, str):
        raise ValueError(f"description must be a string or None, got {request.description!r}")


def explicit(value: Any) -> Any:
    """A request as JSON-ready builtins, leaving out every plain field left at its default.

    Hyperparameter Structs are shared with the response models, which keep their defaults
    when encoded; in a request those defaults are not sent, so the server applies its own.
    Nested objects are always kept (the API requires ``{"hyperparameters": {}}`` and the like).
    """
    if isinstance(value, msgspec.Struct):
        config = value.__struct_config__
        body: dict[str, Any] = {} if config.tag_field is None else {config.tag_field: config.tag}
        always: frozenset[str] = getattr(value, "__always_sent__", frozenset())
        for field in msgspec.structs.fields(value):
            item = getattr(value, field.name)
            if (
                not isinstance(item, msgspec.Struct)
                and field.name not in always
                and _is_default(field, item)
            ):
                continue
            body[field.encode_name] = explicit(item)
        return body
    if isinstance(value, dict):
        return {key: explicit(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [explicit(item) for item in value]
    return value


def _is_default(field: msgspec.structs.FieldInfo, value: Any) -> bool:
    if field.default is not msgspec.NODEFAULT:
        return bool(value == field.default)
    if field.default_factory is not msgspec.NODEFAULT:
        return bool(value == field.default_factory())
    return False


def encode_request(request: RequestModel) -> bytes:
    """The JSON body of a request."""
    return msgspec.json.encode(explicit(request))

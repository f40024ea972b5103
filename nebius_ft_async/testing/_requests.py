"""The request parts of the API documents, as pydantic declares them, and a request's query,
JSON body and form read and checked against them (a 422 for what they refuse).

The job request is ``nebius-ft-extra-openapi.json``'s ``FineTuningRequest``; custom models
are ``nebius-models-openapi.json``'s; the queries are the parameters of each operation.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiohttp import web

from ._bodies import read_form, read_json
from ._validation import (
    INVALID,
    OMITTED,
    REQUIRED,
    Bool,
    Choice,
    Dict,
    FieldType,
    File,
    Float,
    Int,
    List,
    Model,
    Nullable,
    Problems,
    Str,
    Tagged,
    Union,
    Unprocessable,
    problem,
)


def _tagged_type(tag: str) -> FieldType:
    """The ``type`` of an integration or checkpoint: any string, ``tag`` when absent."""
    return Union(Str(), Choice(tag, kind="literal_error"))


_SUPERVISED_HYPERPARAMETERS = Model(
    "SupervisedHParameters",
    {
        "batch_size": (Int(ge=1, le=64), 8),
        "learning_rate": (Float(ge=0), 1e-05),
        "n_epochs": (Int(ge=1, le=20), 3),
        "warmup_ratio": (Float(ge=0, le=1), 0.0),
        "weight_decay": (Float(ge=0), 0.0),
        "packing": (Bool(), True),
        "max_grad_norm": (Float(gt=0), 1.0),
        "context_length": (Int(ge=8192, le=131072), 8192),
        "lora": (Bool(), False),
        "lora_r": (Int(ge=8, le=128), 8),
        "lora_alpha": (Int(ge=8), 8),
        "lora_dropout": (Float(ge=0, le=1), 0.0),
    },
)
_SPEC_DRAFT_HYPERPARAMETERS = Model(
    "SpecDraftHParameters",
    {
        "batch_size": (Int(ge=1, le=64), 8),
        "learning_rate": (Float(gt=0, lt=1), 0.0075),
        "n_epochs": (Int(ge=1, le=20), 1),
        "warmup_ratio": (Float(ge=0, le=1), 0.0),
        "weight_decay": (Float(ge=0), 0.0),
        "packing": (Bool(), True),
        "max_grad_norm": (Float(gt=0), 1.0),
        "context_length": (Int(ge=8192, le=131072), 8192),
        "architecture": (Str(), "eagle3_original"),
        "num_decoding_heads": (Int(ge=1, le=10), 3),
        "loss": (
            Model("SpecDraftLossParams", {"type": (Choice("kl", "lk_alpha", "lk_hybrid"), "kl")}),
            OMITTED,
        ),
    },
)
_METHOD = Tagged(
    "type",
    {
        "supervised": Model(
            "SupervisedMethodConfig",
            {
                "type": (Choice("supervised", kind="literal_error"), "supervised"),
                "supervised": (
                    Model(
                        "SupervisedConfig",
                        {"hyperparameters": (_SUPERVISED_HYPERPARAMETERS, REQUIRED)},
                    ),
                    REQUIRED,
                ),
            },
        ),
        "spec-draft": Model(
            "SpecDraftMethodConfig",
            {
                "type": (Choice("spec-draft", kind="literal_error"), "spec-draft"),
                "spec_draft": (
                    Model(
                        "SpecDraftConfig",
                        {"hyperparameters": (_SPEC_DRAFT_HYPERPARAMETERS, REQUIRED)},
                    ),
                    REQUIRED,
                ),
            },
        ),
    },
)
_OPTIONAL_STR = (Nullable(Str()), None)
_INTEGRATION = Union(
    Model(
        "WandbIntegrationRequest",
        {
            "type": (_tagged_type("wandb"), "wandb"),
            "wandb": (
                Model(
                    "WandbConfigRequest",
                    {
                        "project": (Str(), REQUIRED),
                        "name": _OPTIONAL_STR,
                        "entity": _OPTIONAL_STR,
                        "tags": (List(Str()), OMITTED),
                        "api_key": (Str(), REQUIRED),
                    },
                ),
                REQUIRED,
            ),
        },
    ),
    Model(
        "MlflowIntegrationRequest",
        {
            "type": (Choice("mlflow", kind="literal_error"), "mlflow"),
            "mlflow": (
                Model(
                    "MlflowConfigRequest",
                    {
                        "tracking_uri": (Str(), REQUIRED),
                        "experiment_name": (Nullable(Str()), REQUIRED),
                        "run_name": (Nullable(Str()), REQUIRED),
                        "tags": (Dict(Str()), OMITTED),
                        "certificate_file": (Str(), REQUIRED),
                        "certificate_file_id": _OPTIONAL_STR,
                        "username": (Str(), REQUIRED),
                        "password": (Str(), REQUIRED),
                    },
                ),
                REQUIRED,
            ),
        },
    ),
    Model(
        "HfExportIntegrationRequest",
        {
            "type": (_tagged_type("hf"), "hf"),
            "hf": (
                Model(
                    "HfExportConfigRequest",
                    {"output_repo_name": (Str(), REQUIRED), "api_token": (Str(), REQUIRED)},
                ),
                REQUIRED,
            ),
        },
    ),
)
_FROM_CHECKPOINT = Union(
    Model(
        "HFCheckpointParametersRequest",
        {
            "type": (_tagged_type("hf"), "hf"),
            "repo": (Str(), REQUIRED),
            "revision": _OPTIONAL_STR,
            "token": _OPTIONAL_STR,
        },
    ),
    Model("FTCheckpointParameters", {"type": (_tagged_type("ft"), "ft")}),
)
FINE_TUNING_REQUEST = Model(
    "FineTuningRequest",
    {
        "model": (Str(), REQUIRED),
        "from_checkpoint": (Nullable(_FROM_CHECKPOINT), None),
        "training_file": (Str(), REQUIRED),
        "validation_file": _OPTIONAL_STR,
        "hyperparameters": (Nullable(_SUPERVISED_HYPERPARAMETERS), None),
        "method": (Nullable(_METHOD), None),
        "integrations": (Nullable(List(_INTEGRATION)), None),
        "seed": (Nullable(Int()), None),
        "suffix": (Nullable(Str(max_length=64)), None),
        "tags": (Nullable(List(Str())), None),
        "extra_body": (Nullable(Dict()), None),
    },
)
_PURPOSE = Choice("batch", "fine-tune")
UPLOAD_FORM = {"file": (File(), REQUIRED), "purpose": (_PURPOSE, REQUIRED)}
# nebius-models-openapi.json: the body of POST /v0/models and the form of its uploads
CUSTOM_MODEL_REQUEST = Model(
    "CreateCustomModelRequest",
    {
        "name": (Str(), REQUIRED),
        "base_model": (Str(), REQUIRED),
        "source": (Str(), REQUIRED),
        "description": _OPTIONAL_STR,
    },
)
MODEL_ARCHIVE_FORM = {"file": (File(), REQUIRED)}

_ANY_OBJECT = Dict()
_ANY_OBJECT.name = "dict[str,any]"
_COLUMNS = (List(Dict()), REQUIRED)
CREATE_DATASET_FROM_ROWS = Model(
    "CreateDatasetRequestUpload",
    {
        "name": (Str(), REQUIRED),
        "schema": _COLUMNS,
        "folder": (Str(), REQUIRED),
        "rows": (List(Dict()), REQUIRED),
        "ai_project_id": _OPTIONAL_STR,
    },
)
# CreateDatasetRequestS3: the document shows its name only
CREATE_DATASET = Union(CREATE_DATASET_FROM_ROWS, _ANY_OBJECT)
PATCH_DATASET = Model("PatchDataset", {"name": _OPTIONAL_STR, "folder": _OPTIONAL_STR})
CREATE_DATASET_UPLOAD = Model(
    "CreateDatasetUpload",
    {"name": (Str(), REQUIRED), "schema": _COLUMNS, "folder": (Str(), REQUIRED)},
)
COMPLETE_UPLOAD = Model("CompleteUploadRequest", {"part_ids": (List(Str()), None)})

_Query = dict[str, tuple[FieldType, Any]]
_PROJECT: _Query = {"ai_project_id": _OPTIONAL_STR}
_CURSOR_PAGE: _Query = {"limit": (Nullable(Int()), None), "after": _OPTIONAL_STR}
_QUERIES: dict[str, _Query] = {
    "list_jobs": {**_CURSOR_PAGE, **_PROJECT},
    "create_job": _PROJECT,
    "list_events": _CURSOR_PAGE,
    "list_checkpoints": {"after": (Str(), None), "limit": (Int(), 10)},
    "upload_file": _PROJECT,
    "list_files": {"limit": (Int(), 10), "purpose": (Nullable(_PURPOSE), None), **_PROJECT},
    "list_operations": {
        "limit": (Int(ge=1, le=100), 100),
        "cursor_time": _OPTIONAL_STR,
        **_PROJECT,
    },
    "operation_results": _CURSOR_PAGE,
    "dataset_content": {"limit": (Int(ge=1, le=1000), 100), "offset": (Int(ge=0), 0)},
    "dataset_upload": _PROJECT,
    "export_dataset": {"format": (Str(), "jsonl"), "limit": (Nullable(Int()), None)},
}
_QUERIES.update(create_model=_PROJECT, list_models=_PROJECT, upload_model_archive=_PROJECT)


def _checked_query(request: web.Request, operation: str, problems: Problems) -> dict[str, Any]:
    """The query parameters of ``operation``, checked (the last of a repeated one counts, as
    in Starlette); the defaults of those not given."""
    checked = {}
    for name, (kind, default) in _QUERIES[operation].items():
        values = request.query.getall(name, ())
        if not values:
            checked[name] = default
        else:
            checked[name] = kind.check(values[-1], ("query", name), problems)
    return checked


def checked_query(request: web.Request, operation: str) -> dict[str, Any]:
    """The checked query parameters of ``operation``, or a 422 for them."""
    problems: Problems = []
    checked = _checked_query(request, operation, problems)
    if problems:
        raise Unprocessable(problems)
    return checked


async def checked_body(request: web.Request, kind: FieldType, operation: str | None = None) -> Any:
    """A JSON body checked against ``kind`` (and the query of ``operation``), or a 422."""
    problems: Problems = []
    if operation is not None:
        _checked_query(request, operation, problems)
    body = await read_json(request)
    if body is INVALID or body is None:
        problems.append(problem("missing", ("body",), "Field required", None))
    else:
        body = kind.check(body, ("body",), problems)
    if problems:
        raise Unprocessable(problems)
    return body


async def checked_form(
    request: web.Request, fields: Mapping[str, tuple[FieldType, Any]], operation: str
) -> dict[str, Any]:
    """A form's ``fields`` checked (each one required; FastAPI takes an empty form field for
    none), and the query of ``operation``, or a 422."""
    problems: Problems = []
    _checked_query(request, operation, problems)
    sent = await read_form(request)
    checked = {}
    for name, (kind, _) in fields.items():
        value = sent.get(name)
        if value is None or value == "":
            problems.append(problem("missing", ("body", name), "Field required", None))
        else:
            checked[name] = kind.check(value, ("body", name), problems)
    if problems:
        raise Unprocessable(problems)
    return checked

"""The MCP tools: each one an entry of ``TOOLS``, declared over the library's own types.

A tool is a name, a description an agent can act on, an input Struct (its JSON Schema is
the tool's ``inputSchema``; arguments are converted into it, so a bad one is refused with
the field named), the library type it returns (its schema is the ``outputSchema``) and a
coroutine that does the work with an ``Endpoints`` session. Adding a tool is adding one
entry. Nothing here imports the MCP SDK: ``_server`` turns these entries into MCP.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Generic, Literal, TypeVar

import anyio
import msgspec

from .._datacheck import DEFAULT_MAX_PROBLEMS, DataFileReport, check_data_file_async
from .._endpoints import Endpoints
from .._models import (
    CustomModel,
    DatasetFileResult,
    FileObject,
    FineTuningCheckpoint,
    FineTuningJob,
    FineTuningJobCheckpoint,
    FineTuningJobEvent,
    Page,
    SupervisedHyperparameters,
)
from .._requests import (
    MAX_SUFFIX_LENGTH,
    FineTuningRequest,
    HfCheckpoint,
    HfExportIntegration,
    MlflowIntegration,
    SpecDraftMethod,
    SupervisedMethod,
    WandbIntegration,
    check_job_request,
    encode_request,
    explicit,
    masked,
)
from .._routes import CREATE_JOB, CREATE_MODEL
from ._options import ServerOptions

InputT = TypeVar("InputT", bound="ToolInput")

Progress = Callable[[float, float | None, str], Awaitable[None]]
"""Reports progress of the call being served: ``(progress, total, message)``."""

Gate = Literal["create", "upload", "deploy", "root"]

_GATE_FLAGS: dict[Gate, str] = {
    "create": "--allow-create",
    "upload": "--allow-upload",
    "deploy": "--allow-deploy",
    "root": "--root DIR",
}
_GATED: dict[Gate, str] = {
    "create": "creating jobs",
    "upload": "uploading files",
    "deploy": "deploying and deleting custom models",
    "root": "reading local files",
}

DEFAULT_WAIT_POLL_INTERVAL = 5.0
"""Seconds between polls of the wait tools unless the call says otherwise."""


class ToolRefused(Exception):
    """The server was not started to allow this call, or a path is outside ``--root``."""


@dataclass(frozen=True)
class ToolContext:
    """What a tool works with: the session, the server's options and a progress reporter."""

    session: Endpoints
    options: ServerOptions
    progress: Progress


class ToolInput(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Base of tool arguments: keyword fields, and an unknown argument is refused."""


@dataclass(frozen=True)
class Tool(Generic[InputT]):
    """One MCP tool; ``run`` returns a value of one of ``output_types``.

    ``gate`` names what needs a start-up flag (``None``: always allowed); ``read_only``,
    ``destructive`` and ``idempotent`` become the tool's annotations.
    """

    name: str
    description: str
    input_type: type[InputT]
    output_types: tuple[Any, ...]
    run: Callable[[ToolContext, InputT], Awaitable[Any]]
    gate: Gate | None = None
    read_only: bool = True
    destructive: bool = False
    idempotent: bool = True

    def refusal(self, options: ServerOptions, args: InputT | None = None) -> str | None:
        """Why a call with ``args`` is refused on a server started with ``options``, or
        ``None``. A dry run (``dry_run=true``) sends nothing, so no flag is needed for it."""
        if self.gate is None or getattr(args, "dry_run", False):
            return None
        allowed = {
            "create": options.allow_create,
            "upload": options.allow_upload,
            "deploy": options.allow_deploy,
            "root": options.root is not None,
        }
        if allowed[self.gate]:
            return None
        refusal = f"{_GATED[self.gate]} is off on this server (start it with {self.flag()})"
        if "dry_run" in self.input_type.__struct_fields__:
            refusal += "; dry_run=true shows the request that would be sent"
        return refusal

    def flag(self) -> str | None:
        """The start-up flag that turns this tool on, if it needs one."""
        return None if self.gate is None else _GATE_FLAGS[self.gate]


# -- arguments -------------------------------------------------------------------------

JobId = Annotated[str, msgspec.Meta(min_length=1, description="The job's id, like ftjob-abc123.")]
OperationId = Annotated[
    str, msgspec.Meta(min_length=1, description="The operation's id (a job's id works too).")
]
Limit = Annotated[
    int, msgspec.Meta(ge=1, le=100, description="At most this many items (the API's default).")
]
After = Annotated[
    str,
    msgspec.Meta(
        min_length=1,
        description="Cursor: the last id of the previous page (its last_id), for the next one.",
    ),
]
ModelName = Annotated[
    str,
    msgspec.Meta(
        min_length=1,
        description="The model's name as the server gave it, full "
        "(meta-llama/Meta-Llama-3.1-8B-Instruct-LoRa:my-model-JuNN) or short (my-model-JuNN).",
    ),
]
FileId = Annotated[str, msgspec.Meta(min_length=1, description="The file's id, like file-abc123.")]
LocalPath = Annotated[
    str,
    msgspec.Meta(
        min_length=1,
        description="The file's path, relative to the server's --root directory (or "
        "absolute inside it).",
    ),
]
Timeout = Annotated[
    float, msgspec.Meta(gt=0, description="Give up after this many seconds (default: never).")
]
PollInterval = Annotated[
    float,
    msgspec.Meta(gt=0, description="Seconds between polls; at least 1 against the real API."),
]
DryRunFlag = Annotated[
    bool,
    msgspec.Meta(
        description="Only show the request that would be sent; start nothing (always allowed)."
    ),
]


class JobInput(ToolInput):
    """Which job."""

    job_id: JobId


class ListJobsInput(ToolInput):
    """A page of jobs."""

    limit: Limit | None = None
    after: After | None = None


class JobPageInput(ToolInput):
    """A page of one job's items."""

    job_id: JobId
    limit: Limit | None = None
    after: After | None = None


class OperationPageInput(ToolInput):
    """A page of an operation's results."""

    operation_id: OperationId
    limit: Limit | None = None
    after: After | None = None


class WaitInput(ToolInput):
    """Which job to wait for, and for how long."""

    job_id: JobId
    timeout: Timeout | None = None
    poll_interval: PollInterval = DEFAULT_WAIT_POLL_INTERVAL


class CreateJobInput(ToolInput):
    """A fine-tuning job to start, as ``POST /v1/fine_tuning/jobs`` takes it."""

    model: Annotated[
        str,
        msgspec.Meta(
            min_length=1, description="Base model to fine-tune, like meta-llama/Llama-3.1-8B."
        ),
    ]
    training_file: Annotated[
        str, msgspec.Meta(min_length=1, description="Id of an uploaded JSONL training file.")
    ]
    validation_file: (
        Annotated[str, msgspec.Meta(min_length=1, description="Id of a validation file.")] | None
    ) = None
    method: SupervisedMethod | SpecDraftMethod | None = None
    hyperparameters: SupervisedHyperparameters | None = None
    integrations: list[WandbIntegration | MlflowIntegration | HfExportIntegration] | None = None
    from_checkpoint: HfCheckpoint | None = None
    seed: int | None = None
    suffix: (
        Annotated[
            str,
            msgspec.Meta(
                max_length=MAX_SUFFIX_LENGTH, description="Added to the fine-tuned model's name."
            ),
        ]
        | None
    ) = None
    tags: list[str] | None = None
    dry_run: DryRunFlag = False


class UploadInput(ToolInput):
    """A file to upload."""

    path: LocalPath
    purpose: Annotated[str, msgspec.Meta(min_length=1, description="What the file is for.")] = (
        "fine-tune"
    )


class DeployInput(ToolInput):
    """A fine-tuning checkpoint to deploy as a custom model."""

    job_id: JobId
    name: Annotated[
        str,
        msgspec.Meta(
            min_length=1,
            description="What to call the model; the server adds to it, so use the name it "
            "returns from then on.",
        ),
    ]
    checkpoint_id: (
        Annotated[
            str,
            msgspec.Meta(
                min_length=1,
                description="Which of the job's checkpoints (default: the one at the highest "
                "step).",
            ),
        ]
        | None
    ) = None
    description: (
        Annotated[str, msgspec.Meta(description="A description kept with the model.")] | None
    ) = None
    dry_run: DryRunFlag = False


class ModelInput(ToolInput):
    """Which custom model."""

    name: ModelName


class ListModelsInput(ToolInput):
    """Every custom model (the API pages nothing here)."""


class ModelWaitInput(ToolInput):
    """Which custom model to wait for, and for how long."""

    name: ModelName
    timeout: Timeout | None = None
    poll_interval: PollInterval = DEFAULT_WAIT_POLL_INTERVAL


class FileWaitInput(ToolInput):
    """Which uploaded file to wait for, and for how long."""

    file_id: FileId
    timeout: Timeout | None = None
    poll_interval: PollInterval = DEFAULT_WAIT_POLL_INTERVAL


class CheckInput(ToolInput):
    """A local data file to check."""

    path: LocalPath
    max_problems: Annotated[
        int, msgspec.Meta(ge=1, le=1000, description="List at most this many problems.")
    ] = DEFAULT_MAX_PROBLEMS


# -- results that are not the API's ----------------------------------------------------


class DryRun(msgspec.Struct, kw_only=True):
    """The request ``create_job`` would send; nothing was sent. Secrets are shown as ***."""

    dry_run: bool = True
    method: str = CREATE_JOB.method
    path: str = CREATE_JOB.template
    body: dict[str, Any]


class DeployDryRun(msgspec.Struct, kw_only=True):
    """The request ``deploy_checkpoint`` would send; nothing was deployed."""

    dry_run: bool = True
    method: str = CREATE_MODEL.method
    path: str = CREATE_MODEL.template
    body: dict[str, Any]


class ModelList(msgspec.Struct, kw_only=True):
    """Every custom model, as the API listed them."""

    data: list[CustomModel]


# -- what each tool does ---------------------------------------------------------------


async def _list_jobs(context: ToolContext, args: ListJobsInput) -> Page[FineTuningJob]:
    return await context.session.list_jobs(limit=args.limit, after=args.after)


async def _get_job(context: ToolContext, args: JobInput) -> FineTuningJob:
    return await context.session.get_job(args.job_id)


async def _list_events(context: ToolContext, args: JobPageInput) -> Page[FineTuningJobEvent]:
    return await context.session.list_events(args.job_id, limit=args.limit, after=args.after)


async def _list_checkpoints(
    context: ToolContext, args: JobPageInput
) -> Page[FineTuningJobCheckpoint]:
    return await context.session.list_checkpoints(args.job_id, limit=args.limit, after=args.after)


async def _operation_results(
    context: ToolContext, args: OperationPageInput
) -> Page[FineTuningCheckpoint] | DatasetFileResult:
    return await context.session.get_operation_results(
        args.operation_id, limit=args.limit, after=args.after
    )


def _stars(masked_secret: object) -> str:
    """How a dry run shows a secret (``masked`` leaves a marker where one was)."""
    return "***"


async def _create_job(context: ToolContext, args: CreateJobInput) -> FineTuningJob | DryRun:
    fields = {name: getattr(args, name) for name in args.__struct_fields__ if name != "dry_run"}
    if args.dry_run:
        request = FineTuningRequest(**fields)
        check_job_request(request)
        body = msgspec.to_builtins(masked("", explicit(request)), enc_hook=_stars)
        return DryRun(body=body)
    return await context.session.create_job(**fields)


async def _cancel_job(context: ToolContext, args: JobInput) -> FineTuningJob:
    return await context.session.cancel_job(args.job_id)


async def _wait_for_job(context: ToolContext, args: WaitInput) -> FineTuningJob:
    reported: tuple[str, int | None] | None = None
    progress = 0.0

    async def on_update(job: FineTuningJob) -> None:
        nonlocal reported, progress
        now = (str(job.status), job.trained_steps)
        if now == reported:
            return
        reported = now
        steps = job.trained_steps if isinstance(job.trained_steps, int) else 0
        progress = max(progress, float(steps))  # never goes back, whatever the server says
        total = job.total_steps if isinstance(job.total_steps, int) else None
        shown = "?" if total is None else str(total)
        await context.progress(progress, total, f"{job.status}: {steps}/{shown} steps")

    return await context.session.wait_for_job(
        args.job_id, poll_interval=args.poll_interval, timeout=args.timeout, on_update=on_update
    )


class _StatusProgress:
    """Reports each status a wait sees (with its reason) as one more step of progress; no
    total is known."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.seen = 0

    async def __call__(self, status: object, reason: str | None) -> None:
        self.seen += 1
        shown = str(status or "no status") + (f": {reason}" if reason else "")
        await self.progress(float(self.seen), None, shown)


async def _deploy_checkpoint(context: ToolContext, args: DeployInput) -> CustomModel | DeployDryRun:
    session = context.session
    if not args.dry_run:
        return await session.create_model_from_checkpoint(
            args.job_id, name=args.name, checkpoint=args.checkpoint_id, description=args.description
        )
    request = await session.plan_model_from_checkpoint(
        args.job_id, name=args.name, checkpoint=args.checkpoint_id, description=args.description
    )
    return DeployDryRun(body=msgspec.json.decode(encode_request(request)))


async def _get_model(context: ToolContext, args: ModelInput) -> CustomModel:
    return await context.session.get_model(args.name)


async def _list_models(context: ToolContext, args: ListModelsInput) -> ModelList:
    return ModelList(data=await context.session.list_models())


async def _delete_model(context: ToolContext, args: ModelInput) -> CustomModel:
    return await context.session.delete_model(args.name)


async def _wait_for_model(context: ToolContext, args: ModelWaitInput) -> CustomModel:
    report = _StatusProgress(context.progress)

    async def on_update(model: CustomModel) -> None:
        await report(model.status, model.status_reason)

    return await context.session.wait_for_model(
        args.name, poll_interval=args.poll_interval, timeout=args.timeout, on_update=on_update
    )


async def _wait_for_file(context: ToolContext, args: FileWaitInput) -> FileObject:
    report = _StatusProgress(context.progress)

    async def on_update(file: FileObject) -> None:
        await report(file.status, file.status_details)

    return await context.session.wait_for_file(
        args.file_id, poll_interval=args.poll_interval, timeout=args.timeout, on_update=on_update
    )


def confined(root: Path, given: str) -> Path:
    """``given`` (relative to ``root``, or absolute) resolved, if it is a file under ``root``.

    Symlinks are resolved first, so a link that points out of ``root`` is refused like a
    path with ``..`` in it. Raises ``ToolRefused`` or ``FileNotFoundError``.
    """
    if "\0" in given:
        raise ToolRefused("path holds a NUL character")
    if ".." in Path(given).parts:
        raise ToolRefused(f"path {given!r} uses '..'; give a path inside the server's root")
    target = (root / given).resolve()
    if not target.is_relative_to(root):
        raise ToolRefused(f"path {given!r} is outside the server's root directory")
    if not target.is_file():
        raise FileNotFoundError(f"no file at {given!r} under the server's root directory")
    return target


async def _upload_file(context: ToolContext, args: UploadInput) -> FileObject:
    root = context.options.root
    assert root is not None  # ServerOptions.checked: uploads need a root
    path = await anyio.to_thread.run_sync(confined, root, args.path)
    name = Path(args.path).name  # the name asked for, not that of a link's target
    return await context.session.upload_file(os.fspath(path), purpose=args.purpose, filename=name)


async def _check_data_file(context: ToolContext, args: CheckInput) -> DataFileReport:
    root = context.options.root
    assert root is not None  # the "root" gate: refused before this without --root
    path = await anyio.to_thread.run_sync(confined, root, args.path)
    report = await check_data_file_async(path, max_problems=args.max_problems)
    return msgspec.structs.replace(report, path=args.path)  # the path asked for, not the root's


TOOLS: tuple[Tool[Any], ...] = (
    Tool(
        "list_jobs",
        "List fine-tuning jobs, newest first, one page at a time. Each job has its status "
        "(validating_files, queued, running, succeeded, failed, cancelled), trained_steps / "
        "total_steps and result_files. While has_more is true, pass last_id as after.",
        ListJobsInput,
        (Page[FineTuningJob],),
        _list_jobs,
    ),
    Tool(
        "get_job",
        "Get one fine-tuning job: its status, progress (trained_steps of total_steps), "
        "estimated_finish (unix seconds), error if it failed, and result_files.",
        JobInput,
        (FineTuningJob,),
        _get_job,
    ),
    Tool(
        "list_events",
        "List a job's events, newest first: status messages, and metrics events whose data "
        "holds step and train_loss. While has_more is true, pass the last event's id as after.",
        JobPageInput,
        (Page[FineTuningJobEvent],),
        _list_events,
    ),
    Tool(
        "list_checkpoints",
        "List a job's checkpoints: step_number, train/valid loss in metrics, and the "
        "fine_tuned_model_checkpoint name. While has_more is true, pass last_id as after.",
        JobPageInput,
        (Page[FineTuningJobCheckpoint],),
        _list_checkpoints,
    ),
    Tool(
        "get_operation_results",
        "What an operation produced: for a fine-tuning operation a page of checkpoints with "
        "their downloadable result_files ids; for a dataset-to-file operation the file_id "
        "it wrote.",
        OperationPageInput,
        (Page[FineTuningCheckpoint], DatasetFileResult),
        _operation_results,
    ),
    Tool(
        "create_job",
        "Start a fine-tuning job on an uploaded training file. This costs money: it is off "
        "unless the server was started with --allow-create. dry_run=true is always allowed "
        "and returns the request that would be sent, without sending it. The job starts as "
        "validating_files; follow it with wait_for_job.",
        CreateJobInput,
        (FineTuningJob, DryRun),
        _create_job,
        gate="create",
        read_only=False,
        idempotent=False,
    ),
    Tool(
        "cancel_job",
        "Cancel a job that has not finished. Cancelling a finished job is an error (HTTP 400 "
        "with the server's detail).",
        JobInput,
        (FineTuningJob,),
        _cancel_job,
        read_only=False,
        destructive=True,
    ),
    Tool(
        "wait_for_job",
        "Wait until a job has succeeded, failed or been cancelled, and return it (a failed "
        "job is returned, not an error; see its error field). Progress notifications report "
        "trained steps of total and each status change. Can take hours: set timeout to come "
        "back sooner (a timeout is an error that says the last status seen).",
        WaitInput,
        (FineTuningJob,),
        _wait_for_job,
    ),
    Tool(
        "upload_file",
        "Upload a local JSONL file for training or validation and return its id (use it as "
        "create_job's training_file). Only files under the server's --root directory, and "
        "only if the server was started with --allow-upload.",
        UploadInput,
        (FileObject,),
        _upload_file,
        gate="upload",
        read_only=False,
        idempotent=False,
    ),
    Tool(
        "check_data_file",
        "Check a local JSONL training or validation file before uploading it: each line must "
        "be one example of a documented format (chat messages, prompt/completion, text, "
        "token_ids). Returns ok, the format, counts of lines, examples, roles and approximate "
        "tokens, and problems with their 1-based line numbers (line 0: the whole file). Only "
        "files under the server's --root directory; sends nothing.",
        CheckInput,
        (DataFileReport,),
        _check_data_file,
        gate="root",
    ),
    Tool(
        "wait_for_file",
        "Wait until an uploaded file has been processed and return it. Progress notifications "
        "report each status change. A file the server could not process is an error with "
        "its status_details; a timeout is an error that says the last status seen.",
        FileWaitInput,
        (FileObject,),
        _wait_for_file,
    ),
    Tool(
        "deploy_checkpoint",
        "Deploy a fine-tuning job's checkpoint (default: its last) as a custom model that "
        "serves chat completions, on the job's base model. This costs money: it is off "
        "unless the server was started with --allow-deploy. dry_run=true is always allowed: "
        "it reads the job and its checkpoints and returns the request that would be sent, "
        "without sending it. The model starts as validating; follow it with wait_for_model "
        "using the name returned.",
        DeployInput,
        (CustomModel, DeployDryRun),
        _deploy_checkpoint,
        gate="deploy",
        read_only=False,
        idempotent=False,
    ),
    Tool(
        "get_model",
        "Get one custom model: its status (validating, active, error, deleted), "
        "status_reason if in error, base_model and source (job_id:checkpoint_id).",
        ModelInput,
        (CustomModel,),
        _get_model,
    ),
    Tool(
        "list_models",
        "List every custom model (in data), with its name, status and source.",
        ListModelsInput,
        (ModelList,),
        _list_models,
    ),
    Tool(
        "wait_for_model",
        "Wait until a custom model is active and return it. Progress notifications report "
        "each status change. A model that ends in error (or is deleted) is an error with "
        "the server's status_reason; a timeout is an error that says the last status seen.",
        ModelWaitInput,
        (CustomModel,),
        _wait_for_model,
    ),
    Tool(
        "delete_model",
        "Delete a custom model; it stops serving. Off unless the server was started with "
        "--allow-deploy. Returns the model with status deleted; an unknown name is HTTP 404.",
        ModelInput,
        (CustomModel,),
        _delete_model,
        gate="deploy",
        read_only=False,
        destructive=True,
    ),
)
"""Every tool the server offers, in the order it lists them."""

TOOLS_BY_NAME: dict[str, Tool[Any]] = {tool.name: tool for tool in TOOLS}

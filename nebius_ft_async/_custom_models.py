"""Custom models: deploy a LoRA adapter as a served model, and manage it (``/v0/models``).

A model is deployed from a fine-tuning checkpoint (``source = "{job_id}:{checkpoint_id}"``),
from an adapter archive uploaded to ``/v0/models/upload`` (its file id), or from a Hugging
Face repository (its URL). The name the server gives it is short (``my-model-hfjV``) or full
(``meta-llama/Meta-Llama-3.1-8B-Instruct-LoRa:my-model-JuNN``): a full name contains ``/`` and
is addressed as ``/v0/models/{vendor}/{full_name}``, a short one as ``/v0/models/{name}``.
"""

import os
from pathlib import Path
from typing import Unpack

import anyio

from ._calls import CallPerformer, walk
from ._jobs import job_path
from ._models import CustomModel, FileObject, FineTuningJob, FineTuningJobCheckpoint, Page
from ._paging import DEFAULT_PAGE_SIZE
from ._requests import (
    CustomModelRequest,
    check_custom_model_request,
    encode_request,
    require_text,
)
from ._routes import (
    CREATE_MODEL,
    DELETE_FULL_MODEL,
    DELETE_MODEL,
    GET_FULL_MODEL,
    GET_JOB,
    GET_MODEL,
    LIST_CHECKPOINTS,
    LIST_MODELS,
    MODELS,
    UPLOAD_MODEL_ARCHIVE,
    Call,
    CallOptions,
    Progress,
    Route,
    Upload,
)
from ._urls import page_query, path_segment

HF_HOST = "huggingface.co/"


def model_path(name: str) -> tuple[bool, str]:
    """Whether ``name`` is a full name (``vendor/rest``), and the path that addresses it.

    A full name is split at its first ``/``; each part is escaped as one path segment.
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"name must be a non-empty string, got {name!r}")
    vendor, slash, full_name = name.partition("/")
    if not slash:
        return False, f"{MODELS}/{path_segment(name, 'name')}"
    if not vendor or not full_name:
        raise ValueError(f"name {name!r} is not a model name: nothing before or after its '/'")
    return True, f"{MODELS}/{path_segment(vendor, 'vendor')}/{path_segment(full_name, 'name')}"


def hf_source(repo: str) -> str:
    """The ``source`` of a model from a Hugging Face repository: a URL as given, or
    ``huggingface.co/{repo}`` for a repository id such as ``org/name``."""
    if not isinstance(repo, str) or not repo.strip():
        raise ValueError(f"repo must be a Hugging Face repository, got {repo!r}")
    if HF_HOST in repo:
        if not repo.partition(HF_HOST)[2].strip("/"):
            raise ValueError(f"repo {repo!r} names no repository after {HF_HOST!r}")
        return repo
    owner, slash, name = repo.partition("/")
    if not slash or not owner or not name or "/" in name or any(c.isspace() for c in repo):
        raise ValueError(
            f"repo must be a Hugging Face repository id such as 'org/name' or its URL, got {repo!r}"
        )
    return HF_HOST + repo


def _latest(checkpoints: list[FineTuningJobCheckpoint]) -> FineTuningJobCheckpoint | None:
    """The checkpoint at the highest step (the newest of those), whatever the list order."""
    return max(checkpoints, key=lambda c: (c.step_number, c.created_at), default=None)


class CustomModelEndpoints(CallPerformer):
    """Custom models: create (from a checkpoint, an archive or Hugging Face), get, list,
    delete."""

    async def create_model(
        self,
        *,
        name: str,
        base_model: str,
        source: str,
        description: str | None = None,
        **options: Unpack[CallOptions],
    ) -> CustomModel:
        """Deploy a LoRA adapter as a custom model: ``POST /v0/models``.

        ``source`` is ``"{job_id}:{checkpoint_id}"``, the file id of an uploaded adapter
        archive, or a Hugging Face repository URL. The model starts ``validating``; wait for
        it with ``wait_for_model(model.name)``, and use ``model.name`` (the name the server
        returned, not the one asked for) from then on. Like every create, it is not retried
        once it may have reached the server: if it times out, look for the model with
        ``list_models`` before creating it again.
        """
        request = CustomModelRequest(
            name=name, base_model=base_model, source=source, description=description
        )
        check_custom_model_request(request)
        return await self._perform(
            Call(CREATE_MODEL, MODELS, json=encode_request(request), **options)
        )

    async def plan_model_from_checkpoint(
        self,
        job: str | FineTuningJob,
        *,
        name: str,
        checkpoint: str | FineTuningJobCheckpoint | None = None,
        base_model: str | None = None,
        description: str | None = None,
        **options: Unpack[CallOptions],
    ) -> CustomModelRequest:
        """What ``create_model_from_checkpoint`` would send, without sending it; see
        ``nebius_ft_async.plan_model_from_checkpoint``."""
        return await plan_model_from_checkpoint(
            self,
            job,
            name=name,
            checkpoint=checkpoint,
            base_model=base_model,
            description=description,
            **options,
        )

    async def create_model_from_checkpoint(
        self,
        job: str | FineTuningJob,
        *,
        name: str,
        checkpoint: str | FineTuningJobCheckpoint | None = None,
        base_model: str | None = None,
        description: str | None = None,
        **options: Unpack[CallOptions],
    ) -> CustomModel:
        """Deploy a checkpoint of a fine-tuning job (an id or a ``FineTuningJob``).

        ::

            model = await session.create_model_from_checkpoint(job, name="support-bot")
            model = await session.wait_for_model(model.name)

        ``checkpoint`` (an id or a checkpoint) defaults to the job's last one: the highest
        ``step_number``, whatever order the server lists them in. ``base_model`` defaults
        to the job's model (the job is fetched for it when given by id). The call options
        (``timeout``, ...) apply to each request. A job without checkpoints is refused with
        ``ValueError``. ``plan_model_from_checkpoint`` gives the request without sending it.
        """
        request = await self.plan_model_from_checkpoint(
            job,
            name=name,
            checkpoint=checkpoint,
            base_model=base_model,
            description=description,
            **options,
        )
        return await self.create_model(
            name=request.name,
            base_model=request.base_model,
            source=request.source,
            description=request.description,
            **options,
        )

    async def upload_model_archive(
        self,
        file: str | os.PathLike[str] | bytes,
        *,
        filename: str | None = None,
        on_progress: Progress | None = None,
        **options: Unpack[CallOptions],
    ) -> FileObject:
        """Upload a LoRA adapter archive: ``POST /v0/models/upload`` (multipart).

        A ``.zip`` holding ``adapter_config.json`` and ``adapter_model.safetensors``, as a
        path (streamed from disk) or bytes. Its ``id`` is the ``source`` of
        ``create_model``. ``on_progress(sent, total)`` is told the bytes taken so far, as
        by ``upload_file``. Not retried once the upload may have reached the server.
        """
        if isinstance(file, bytes):
            name = filename or "adapter.zip"
        else:
            archive = Path(file)
            if not await anyio.Path(archive).is_file():
                raise FileNotFoundError(f"no archive to upload at {archive}")
            name = filename or archive.name
        upload = Upload(file, name, {})
        call = Call(
            UPLOAD_MODEL_ARCHIVE,
            MODELS + "/upload",
            upload=upload,
            on_progress=on_progress,
            **options,
        )
        return await self._perform(call)

    async def create_model_from_archive(
        self,
        file: str | os.PathLike[str] | bytes,
        *,
        name: str,
        base_model: str,
        description: str | None = None,
        filename: str | None = None,
        on_progress: Progress | None = None,
        **options: Unpack[CallOptions],
    ) -> CustomModel:
        """Upload an adapter archive (``upload_model_archive``) and deploy it.

        ``on_progress`` follows the upload. The call options (``timeout``, ...) apply to the
        upload and the create each.
        """
        require_text("name", name)  # refused before the upload, not after it
        require_text("base_model", base_model)
        uploaded = await self.upload_model_archive(
            file, filename=filename, on_progress=on_progress, **options
        )
        return await self.create_model(
            name=name,
            base_model=base_model,
            source=uploaded.id,
            description=description,
            **options,
        )

    async def create_model_from_hf(
        self,
        repo: str,
        *,
        name: str,
        base_model: str,
        description: str | None = None,
        **options: Unpack[CallOptions],
    ) -> CustomModel:
        """Deploy a LoRA adapter from a Hugging Face repository (``org/name`` or its URL)."""
        return await self.create_model(
            name=name,
            base_model=base_model,
            source=hf_source(repo),
            description=description,
            **options,
        )

    async def get_model(self, name: str, **options: Unpack[CallOptions]) -> CustomModel:
        """A custom model by the name the server gave it, short or full:
        ``GET /v0/models/{name}`` or ``GET /v0/models/{vendor}/{full_name}``."""
        return await self._perform(self._model_call(GET_MODEL, GET_FULL_MODEL, name, options))

    async def list_models(self, **options: Unpack[CallOptions]) -> list[CustomModel]:
        """Every custom model: ``GET /v0/models`` (one list, the API documents no paging)."""
        return await self._perform(Call(LIST_MODELS, MODELS, **options))

    async def delete_model(self, name: str, **options: Unpack[CallOptions]) -> CustomModel:
        """Delete a custom model, short or full name: ``DELETE /v0/models/...``.

        Returns the model with status ``deleted``. Not retried once it may have reached the
        server (a second delete would answer 404).
        """
        return await self._perform(self._model_call(DELETE_MODEL, DELETE_FULL_MODEL, name, options))

    @staticmethod
    def _model_call(
        short: Route[CustomModel], full: Route[CustomModel], name: str, options: CallOptions
    ) -> Call[CustomModel]:
        is_full, path = model_path(name)
        return Call(full if is_full else short, path, **options)

    async def _job_to_deploy(self, job_id: str, options: CallOptions) -> FineTuningJob:
        return await self._perform(Call(GET_JOB, job_path(job_id), **options))

    async def _checkpoints_to_deploy(
        self, job_id: str, options: CallOptions
    ) -> list[FineTuningJobCheckpoint]:
        async def page(
            *, limit: int | None = None, after: str | None = None
        ) -> Page[FineTuningJobCheckpoint]:
            path = job_path(job_id) + "/checkpoints" + page_query(limit, after)
            return await self._perform(Call(LIST_CHECKPOINTS, path, **options))

        return [checkpoint async for checkpoint in walk(page, DEFAULT_PAGE_SIZE, None, None)]


async def plan_model_from_checkpoint(
    session: CustomModelEndpoints,
    job: str | FineTuningJob,
    *,
    name: str,
    checkpoint: str | FineTuningJobCheckpoint | None = None,
    base_model: str | None = None,
    description: str | None = None,
    **options: Unpack[CallOptions],
) -> CustomModelRequest:
    """The body ``create_model_from_checkpoint`` would send to deploy a job's checkpoint,
    read as it reads it, and nothing sent to deploy it.

    ::

        request = await plan_model_from_checkpoint(session, "ftjob-abc", name="support-bot")
        print(request.source)  # "ftjob-abc:ftckpt-..." of the job's last checkpoint

    The arguments and rules are those of ``create_model_from_checkpoint``: ``checkpoint``
    defaults to the one at the highest ``step_number`` and ``base_model`` to the job's
    model, which may take a GET of the job and of its checkpoints (the call options apply
    to each). A blank ``name`` is refused before anything is read; a job without
    checkpoints, or a checkpoint of another job, with ``ValueError``.
    """
    require_text("name", name)
    job_id = job.id if isinstance(job, FineTuningJob) else job
    path_segment(job_id, "job")  # a job id that is no id at all is refused before sending
    if base_model is None:
        known = (
            job if isinstance(job, FineTuningJob) else await session._job_to_deploy(job_id, options)
        )
        base_model = known.model
    if checkpoint is None:
        latest = _latest(await session._checkpoints_to_deploy(job_id, options))
        if latest is None:
            raise ValueError(f"job {job_id} has no checkpoint to deploy yet")
        checkpoint = latest
    if isinstance(checkpoint, FineTuningJobCheckpoint):
        if checkpoint.fine_tuning_job_id not in ("", job_id):
            raise ValueError(
                f"checkpoint {checkpoint.id} belongs to job "
                f"{checkpoint.fine_tuning_job_id}, not {job_id}"
            )
        checkpoint = checkpoint.id
    path_segment(checkpoint, "checkpoint")
    request = CustomModelRequest(
        name=name, base_model=base_model, source=f"{job_id}:{checkpoint}", description=description
    )
    check_custom_model_request(request)
    return request

"""Fine-tuning jobs, their events and their checkpoints (``/v1/fine_tuning/jobs``)."""

from collections.abc import AsyncIterator, Iterable
from functools import partial
from typing import Any, Unpack

from ._calls import CallPerformer, walk
from ._models import (
    FineTuningJob,
    FineTuningJobCheckpoint,
    FineTuningJobEvent,
    Page,
    SupervisedHyperparameters,
)
from ._paging import DEFAULT_PAGE_SIZE
from ._requests import (
    CheckpointBody,
    FineTuningRequest,
    IntegrationBody,
    MethodBody,
    check_job_request,
    encode_request,
)
from ._routes import (
    CANCEL_JOB,
    CREATE_JOB,
    GET_CHECKPOINT,
    GET_JOB,
    JOBS,
    LIST_CHECKPOINTS,
    LIST_EVENTS,
    LIST_JOBS,
    Call,
    CallOptions,
)
from ._urls import page_query, path_segment


def job_path(job_id: str) -> str:
    return f"{JOBS}/{path_segment(job_id, 'job_id')}"


class JobEndpoints(CallPerformer):
    """Jobs: get, list, create, cancel; their events and checkpoints."""

    async def get_job(self, job_id: str, **options: Unpack[CallOptions]) -> FineTuningJob:
        """Get a fine-tuning job: ``GET /v1/fine_tuning/jobs/{job_id}``."""
        return await self._perform(Call(GET_JOB, job_path(job_id), **options))

    async def list_jobs(
        self,
        *,
        limit: int | None = None,
        after: str | None = None,
        **options: Unpack[CallOptions],
    ) -> Page[FineTuningJob]:
        """One page of jobs, in the server's order: ``GET /v1/fine_tuning/jobs``."""
        path = JOBS + page_query(limit, after)
        return await self._perform(Call(LIST_JOBS, path, **options))

    def iter_jobs(
        self, *, page_size: int = DEFAULT_PAGE_SIZE, limit: int | None = None
    ) -> AsyncIterator[FineTuningJob]:
        """Every job across pages (at most ``limit`` if given)."""
        return walk(self.list_jobs, page_size, limit, None)

    async def create_job(
        self,
        *,
        model: str,
        training_file: str,
        validation_file: str | None = None,
        hyperparameters: SupervisedHyperparameters | dict[str, Any] | None = None,
        method: MethodBody | None = None,
        integrations: Iterable[IntegrationBody] | None = None,
        from_checkpoint: CheckpointBody | None = None,
        seed: int | None = None,
        suffix: str | None = None,
        tags: Iterable[str] | None = None,
        extra_body: dict[str, Any] | None = None,
        **options: Unpack[CallOptions],
    ) -> FineTuningJob:
        """Start a fine-tuning job: ``POST /v1/fine_tuning/jobs``.

        ::

            job = await session.create_job(
                model="meta-llama/Llama-3.1-8B-Instruct",
                training_file=uploaded.id,
                method=SupervisedMethod(
                    supervised=SupervisedConfig(
                        hyperparameters=SupervisedHyperparameters(n_epochs=2, lora=True)
                    )
                ),
                suffix="support-bot",
            )

        What the API documents it would refuse (no model or training file, a suffix over 64
        characters, a hyperparameter out of its range, an MLflow integration without the
        fields the API requires) is refused with a ``ValueError`` naming the field before
        anything is sent; the server's own checks come back as ``UnprocessableEntityError``
        with each field path in ``.errors``.

        A create is not retried once it may have reached the server (the API has no
        idempotency key, so a retry could start a second job): only a connection that failed
        before sending, or a 429, is retried. If a create times out or the connection drops
        mid-way, the job may or may not exist: look for it with ``list_jobs`` (newest first)
        before creating it again.
        """
        request = FineTuningRequest(
            model=model,
            training_file=training_file,
            validation_file=validation_file,
            hyperparameters=hyperparameters,
            method=method,
            integrations=None if integrations is None else list(integrations),
            from_checkpoint=from_checkpoint,
            seed=seed,
            suffix=suffix,
            tags=None if tags is None else list(tags),
            extra_body=extra_body,
        )
        check_job_request(request)
        return await self._perform(Call(CREATE_JOB, JOBS, json=encode_request(request), **options))

    async def cancel_job(self, job_id: str, **options: Unpack[CallOptions]) -> FineTuningJob:
        """Cancel a job: ``POST /v1/fine_tuning/jobs/{job_id}/cancel``.

        Cancelling a job that has already finished gives the server's error (an
        ``APIStatusError`` with its detail).
        """
        return await self._perform(Call(CANCEL_JOB, job_path(job_id) + "/cancel", **options))

    async def list_events(
        self,
        job_id: str,
        *,
        limit: int | None = None,
        after: str | None = None,
        **options: Unpack[CallOptions],
    ) -> Page[FineTuningJobEvent]:
        """One page of a job's events: ``GET /v1/fine_tuning/jobs/{job_id}/events``."""
        path = job_path(job_id) + "/events" + page_query(limit, after)
        return await self._perform(Call(LIST_EVENTS, path, **options))

    def iter_events(
        self,
        job_id: str,
        *,
        page_size: int = DEFAULT_PAGE_SIZE,
        limit: int | None = None,
        after: str | None = None,
    ) -> AsyncIterator[FineTuningJobEvent]:
        """Every event of a job across pages (at most ``limit`` if given), in server order."""
        return walk(partial(self.list_events, job_id), page_size, limit, after)

    async def list_checkpoints(
        self,
        job_id: str,
        *,
        limit: int | None = None,
        after: str | None = None,
        **options: Unpack[CallOptions],
    ) -> Page[FineTuningJobCheckpoint]:
        """One page of a job's checkpoints: ``GET /v1/fine_tuning/jobs/{job_id}/checkpoints``."""
        path = job_path(job_id) + "/checkpoints" + page_query(limit, after)
        return await self._perform(Call(LIST_CHECKPOINTS, path, **options))

    def iter_checkpoints(
        self,
        job_id: str,
        *,
        page_size: int = DEFAULT_PAGE_SIZE,
        limit: int | None = None,
        after: str | None = None,
    ) -> AsyncIterator[FineTuningJobCheckpoint]:
        """Every checkpoint of a job across pages (at most ``limit`` if given)."""
        return walk(partial(self.list_checkpoints, job_id), page_size, limit, after)

    async def get_checkpoint(
        self,
        job_id: str,
        checkpoint_id: str,
        **options: Unpack[CallOptions],
    ) -> FineTuningJobCheckpoint:
        """One checkpoint: ``GET /v1/fine_tuning/jobs/{job_id}/checkpoints/{checkpoint_id}``."""
        path = job_path(job_id) + "/checkpoints/" + path_segment(checkpoint_id, "checkpoint_id")
        return await self._perform(Call(GET_CHECKPOINT, path, **options))

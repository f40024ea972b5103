"""The API's endpoints, as methods of AsyncSession.

Each method builds a path (ids escaped into one segment), picks the cached decoder and hands
both to the transport that ``_session.AsyncSession`` provides; nothing here does I/O itself.
"""

import os
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import anyio
import msgspec

from ._checks import MIN_POLL_INTERVAL
from ._models import (
    DatasetFileResult,
    FileObject,
    FineTuningCheckpoint,
    FineTuningJob,
    FineTuningJobCheckpoint,
    FineTuningJobEvent,
    Operation,
    Page,
    SupervisedHyperparameters,
    checkpoint_decoder,
    checkpoint_page_decoder,
    event_page_decoder,
    file_decoder,
    file_page_decoder,
    job_decoder,
    job_page_decoder,
    operation_decoder,
    operation_errors_decoder,
    operation_page_decoder,
    operation_results_decoder,
    operation_results_from,
)
from ._paging import DEFAULT_PAGE_SIZE, ItemT, iterate_items
from ._requests import (
    FineTuningRequest,
    HfCheckpoint,
    IntegrationBody,
    MethodBody,
    check_job_request,
    encode_request,
)
from ._urls import page_query, path_segment

T = TypeVar("T")

_JOBS = "/v1/fine_tuning/jobs"


def _job_path(job_id: str) -> str:
    return f"{_JOBS}/{path_segment(job_id, 'job_id')}"


def _operation_path(operation_id: str) -> str:
    return f"/v1/operations/{path_segment(operation_id, 'operation_id')}"


def _file_path(file_id: str) -> str:
    return f"/v1/files/{path_segment(file_id, 'file_id')}"


class Endpoints(ABC):
    """Every endpoint of the fine-tuning workflow, on top of four transport methods."""

    min_poll_interval: float = MIN_POLL_INTERVAL
    """The shortest ``poll_interval`` the polling helpers accept with this session: 1 s
    against a remote API, so one typo cannot flood it (1 ms on loopback, for tests)."""

    @abstractmethod
    async def _request(
        self,
        method: str,
        path: str,
        decoder: msgspec.json.Decoder[T],
        *,
        json: bytes | None = None,
        idempotent: bool = True,
        timeout: float | None = None,
        max_retries: int | None = None,
    ) -> T: ...

    @abstractmethod
    async def _upload(
        self,
        path: str,
        decoder: msgspec.json.Decoder[T],
        file: str | os.PathLike[str] | bytes,
        filename: str,
        fields: dict[str, str],
        *,
        timeout: float | None = None,
    ) -> T: ...

    @abstractmethod
    async def _request_bytes(
        self, path: str, *, timeout: float | None = None, max_retries: int | None = None
    ) -> bytes: ...

    @abstractmethod
    async def _download(
        self,
        path: str,
        destination: Path,
        *,
        timeout: float | None = None,
        max_retries: int | None = None,
    ) -> None: ...

    # -- jobs ------------------------------------------------------------------------

    async def get_job(
        self, job_id: str, *, timeout: float | None = None, max_retries: int | None = None
    ) -> FineTuningJob:
        """Get a fine-tuning job: ``GET /v1/fine_tuning/jobs/{job_id}``."""
        return await self._request(
            "GET", _job_path(job_id), job_decoder, timeout=timeout, max_retries=max_retries
        )

    async def list_jobs(
        self,
        *,
        limit: int | None = None,
        after: str | None = None,
        timeout: float | None = None,
        max_retries: int | None = None,
    ) -> Page[FineTuningJob]:
        """One page of jobs, in the server's order: ``GET /v1/fine_tuning/jobs``."""
        path = _JOBS + page_query(limit, after)
        return await self._request(
            "GET", path, job_page_decoder, timeout=timeout, max_retries=max_retries
        )

    def iter_jobs(
        self, *, page_size: int = DEFAULT_PAGE_SIZE, limit: int | None = None
    ) -> AsyncIterator[FineTuningJob]:
        """Every job across pages (at most ``limit`` if given)."""
        return _walk(self.list_jobs, page_size, limit, None)

    async def create_job(
        self,
        *,
        model: str,
        training_file: str,
        validation_file: str | None = None,
        hyperparameters: SupervisedHyperparameters | dict[str, Any] | None = None,
        method: MethodBody | None = None,
        integrations: Iterable[IntegrationBody] | None = None,
        from_checkpoint: HfCheckpoint | dict[str, Any] | None = None,
        seed: int | None = None,
        suffix: str | None = None,
        tags: Iterable[str] | None = None,
        extra_body: dict[str, Any] | None = None,
        timeout: float | None = None,
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

        Obviously wrong input (no model or training file, a suffix over 64 characters) is
        refused with ``ValueError`` before anything is sent; the server's own checks come
        back as ``UnprocessableEntityError`` with each field path in ``.errors``.

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
        return await self._request(
            "POST",
            _JOBS,
            job_decoder,
            json=encode_request(request),
            idempotent=False,
            timeout=timeout,
        )

    async def cancel_job(self, job_id: str, *, timeout: float | None = None) -> FineTuningJob:
        """Cancel a job: ``POST /v1/fine_tuning/jobs/{job_id}/cancel``.

        Cancelling a job that has already finished gives the server's error (an
        ``APIStatusError`` with its detail).
        """
        return await self._request(
            "POST",
            _job_path(job_id) + "/cancel",
            job_decoder,
            idempotent=False,
            timeout=timeout,
        )

    # -- events and checkpoints ------------------------------------------------------

    async def list_events(
        self,
        job_id: str,
        *,
        limit: int | None = None,
        after: str | None = None,
        timeout: float | None = None,
        max_retries: int | None = None,
    ) -> Page[FineTuningJobEvent]:
        """One page of a job's events: ``GET /v1/fine_tuning/jobs/{job_id}/events``."""
        path = _job_path(job_id) + "/events" + page_query(limit, after)
        return await self._request(
            "GET", path, event_page_decoder, timeout=timeout, max_retries=max_retries
        )

    def iter_events(
        self,
        job_id: str,
        *,
        page_size: int = DEFAULT_PAGE_SIZE,
        limit: int | None = None,
        after: str | None = None,
    ) -> AsyncIterator[FineTuningJobEvent]:
        """Every event of a job across pages (at most ``limit`` if given), in server order."""
        return _walk(partial(self.list_events, job_id), page_size, limit, after)

    async def list_checkpoints(
        self,
        job_id: str,
        *,
        limit: int | None = None,
        after: str | None = None,
        timeout: float | None = None,
        max_retries: int | None = None,
    ) -> Page[FineTuningJobCheckpoint]:
        """One page of a job's checkpoints: ``GET /v1/fine_tuning/jobs/{job_id}/checkpoints``."""
        path = _job_path(job_id) + "/checkpoints" + page_query(limit, after)
        return await self._request(
            "GET", path, checkpoint_page_decoder, timeout=timeout, max_retries=max_retries
        )

    def iter_checkpoints(
        self,
        job_id: str,
        *,
        page_size: int = DEFAULT_PAGE_SIZE,
        limit: int | None = None,
        after: str | None = None,
    ) -> AsyncIterator[FineTuningJobCheckpoint]:
        """Every checkpoint of a job across pages (at most ``limit`` if given)."""
        return _walk(partial(self.list_checkpoints, job_id), page_size, limit, after)

    async def get_checkpoint(
        self,
        job_id: str,
        checkpoint_id: str,
        *,
        timeout: float | None = None,
        max_retries: int | None = None,
    ) -> FineTuningJobCheckpoint:
        """One checkpoint: ``GET /v1/fine_tuning/jobs/{job_id}/checkpoints/{checkpoint_id}``."""
        path = _job_path(job_id) + "/checkpoints/" + path_segment(checkpoint_id, "checkpoint_id")
        return await self._request(
            "GET", path, checkpoint_decoder, timeout=timeout, max_retries=max_retries
        )

    # -- operations ------------------------------------------------------------------

    async def get_operation(
        self, operation_id: str, *, timeout: float | None = None, max_retries: int | None = None
    ) -> Operation:
        """One operation: ``GET /v1/operations/{operation_id}``."""
        return await self._request(
            "GET",
            _operation_path(operation_id),
            operation_decoder,
            timeout=timeout,
            max_retries=max_retries,
        )

    async def list_operations(
        self,
        *,
        limit: int | None = None,
        cursor_time: str | None = None,
        timeout: float | None = None,
        max_retries: int | None = None,
    ) -> Page[Operation]:
        """Recent operations: ``GET /v1/operations``.

        ``cursor_time`` is the API's ISO 8601 pagination cursor; the API documents no
        ``has_more``, so ``Page.has_more`` stays false.
        """
        path = "/v1/operations" + page_query(limit, None, cursor_time=cursor_time)
        return await self._request(
            "GET", path, operation_page_decoder, timeout=timeout, max_retries=max_retries
        )

    async def get_operation_errors(
        self, operation_id: str, *, timeout: float | None = None, max_retries: int | None = None
    ) -> list[str]:
        """Why an operation failed: ``GET /v1/operations/{operation_id}/errors``."""
        errors = await self._request(
            "GET",
            _operation_path(operation_id) + "/errors",
            operation_errors_decoder,
            timeout=timeout,
            max_retries=max_retries,
        )
        return errors.data

    async def get_operation_results(
        self,
        operation_id: str,
        *,
        limit: int | None = None,
        after: str | None = None,
        timeout: float | None = None,
        max_retries: int | None = None,
    ) -> Page[FineTuningCheckpoint] | DatasetFileResult:
        """What an operation produced: ``GET /v1/operations/{operation_id}/results``.

        A page of checkpoints for a fine-tuning operation, or a ``DatasetFileResult`` with the
        output ``file_id`` for a dataset-to-file operation.
        """
        path = _operation_path(operation_id) + "/results" + page_query(limit, after)
        body = await self._request(
            "GET", path, operation_results_decoder, timeout=timeout, max_retries=max_retries
        )
        return operation_results_from(body)

    def iter_operation_results(
        self,
        operation_id: str,
        *,
        page_size: int = DEFAULT_PAGE_SIZE,
        limit: int | None = None,
        after: str | None = None,
    ) -> AsyncIterator[FineTuningCheckpoint]:
        """Every checkpoint a fine-tuning operation produced, across pages.

        Raises ``ValueError`` if the operation is a dataset-to-file one (it has a
        ``file_id``, not checkpoints; use ``get_operation_results``).
        """

        async def checkpoint_page(*, limit: int, after: str | None) -> Page[FineTuningCheckpoint]:
            result = await self.get_operation_results(operation_id, limit=limit, after=after)
            if isinstance(result, DatasetFileResult):
                raise ValueError(
                    f"operation {operation_id} is a dataset-to-file operation; its result is "
                    f"file {result.file_id}, not checkpoints"
                )
            return result

        return _walk(checkpoint_page, page_size, limit, after)

    # -- files -----------------------------------------------------------------------

    async def upload_file(
        self,
        file: str | os.PathLike[str] | bytes,
        *,
        purpose: str = "fine-tune",
        filename: str | None = None,
        timeout: float | None = None,
    ) -> FileObject:
        """Upload a file: ``POST /v1/files`` (multipart).

        ``file`` is a path, streamed from disk as it is sent (a multi-GB JSONL is never
        read into memory), or the content as bytes. ``filename`` defaults to the path's
        name. Not retried once the upload may have reached the server.
        """
        if isinstance(file, bytes):
            name = filename or "upload.jsonl"
        else:
            source = Path(file)
            if not await anyio.Path(source).is_file():
                raise FileNotFoundError(f"no file to upload at {source}")
            name = filename or source.name
        return await self._upload(
            "/v1/files", file_decoder, file, name, {"purpose": purpose}, timeout=timeout
        )

    async def get_file(
        self, file_id: str, *, timeout: float | None = None, max_retries: int | None = None
    ) -> FileObject:
        """A file's details: ``GET /v1/files/{file_id}``."""
        return await self._request(
            "GET", _file_path(file_id), file_decoder, timeout=timeout, max_retries=max_retries
        )

    async def list_files(
        self,
        *,
        limit: int | None = None,
        purpose: str | None = None,
        timeout: float | None = None,
        max_retries: int | None = None,
    ) -> Page[FileObject]:
        """Uploaded files: ``GET /v1/files`` (the API documents no cursor for this list)."""
        path = "/v1/files" + page_query(limit, None, purpose=purpose)
        return await self._request(
            "GET", path, file_page_decoder, timeout=timeout, max_retries=max_retries
        )

    async def file_content(
        self, file_id: str, *, timeout: float | None = None, max_retries: int | None = None
    ) -> bytes:
        """A small file's content in memory: ``GET /v1/files/{file_id}/content``.

        Bounded by the session's ``max_response_bytes``; use ``download_file`` for large files.
        """
        return await self._request_bytes(
            _file_path(file_id) + "/content", timeout=timeout, max_retries=max_retries
        )

    async def download_file(
        self,
        file_id: str,
        destination: str | os.PathLike[str],
        *,
        timeout: float | None = None,
        max_retries: int | None = None,
    ) -> Path:
        """Stream a file's content to ``destination`` and return its path.

        Written to a temporary file beside it and renamed once complete, so an interrupted
        or short download never leaves a partial file under the final name. Works for a
        checkpoint's ``result_files`` ids and a ``DatasetFileResult.file_id`` alike.
        """
        target = Path(destination)
        await self._download(
            _file_path(file_id) + "/content", target, timeout=timeout, max_retries=max_retries
        )
        return target

    async def download_files(
        self, file_ids: Iterable[str], directory: str | os.PathLike[str]
    ) -> list[Path]:
        """Download several files (a checkpoint's ``result_files``) into ``directory``.

        Each keeps the name the API gives it (``FileObject.filename``), or its id when that
        name is empty, unsafe or already taken.
        """
        folder = Path(directory)
        await anyio.Path(folder).mkdir(parents=True, exist_ok=True)
        paths: list[Path] = []
        for file_id in file_ids:
            info = await self.get_file(file_id)
            name = _safe_filename(info.filename, file_id, {path.name for path in paths})
            paths.append(await self.download_file(file_id, folder / name))
        return paths

    # -- waiting ---------------------------------------------------------------------

    async def wait_for_job(
        self,
        job_id: str,
        *,
        poll_interval: float = 5.0,
        timeout: float | None = None,
        on_update: Callable[[FineTuningJob], Any] | None = None,
        poll_timeout: float | None = None,
    ) -> FineTuningJob:
        """Poll a job until it is final and return it; see ``nebius_ft_async.wait_for_job``."""
        from ._polling import wait_for_job  # the polling layer sits above the session

        return await wait_for_job(
            self,
            job_id,
            poll_interval=poll_interval,
            timeout=timeout,
            on_update=on_update,
            poll_timeout=poll_timeout,
        )

    async def wait_for_operation(
        self,
        operation_id: str,
        *,
        poll_interval: float = 5.0,
        timeout: float | None = None,
        on_update: Callable[[Operation], Any] | None = None,
        poll_timeout: float | None = None,
    ) -> Operation:
        """Poll an operation until it is final; see ``nebius_ft_async.wait_for_operation``."""
        from ._polling import wait_for_operation

        return await wait_for_operation(
            self,
            operation_id,
            poll_interval=poll_interval,
            timeout=timeout,
            on_update=on_update,
            poll_timeout=poll_timeout,
        )


def _walk(
    list_page: Callable[..., Awaitable[Page[ItemT]]],
    page_size: int,
    limit: int | None,
    after: str | None,
) -> AsyncIterator[ItemT]:
    """Every item of a list, from a ``list_*(limit=, after=)`` method."""

    async def fetch(cursor: str | None, size: int) -> Page[ItemT]:
        return await list_page(limit=size, after=cursor)

    return iterate_items(fetch, page_size=page_size, limit=limit, after=after)


_MAX_NAME_BYTES = 200


def _safe_filename(name: str, file_id: str, taken: set[str]) -> str:
    """``name`` if it is a plain, reasonably short file name not yet used, else ``file_id``."""
    plain = os.path.basename(name.replace("\\", "/"))
    if (
        not plain
        or plain in (".", "..")
        or plain != name
        or plain in taken
        or "\0" in plain
        or len(plain.encode()) > _MAX_NAME_BYTES
    ):
        return path_segment(file_id, "file_id")
    return plain

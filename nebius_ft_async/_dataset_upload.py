"""``upload_dataset``: a dataset file sent in parts, several at once, resumable after a crash.

Built on the calls of ``_datasets`` alone: create the upload, send each part (streamed from
disk: memory does not grow with the part size), complete it with the part ids in file order,
then poll it until the server has assembled the dataset. A part sent twice is harmless (only
the ids given to complete are assembled), so a part that fails in a way that may have
reached the server is simply sent again, and its new id used.
"""

import logging
import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import anyio

from ._checks import optional_timeout, positive_count, positive_seconds
from ._dataset_models import Dataset, DatasetUpload, DatasetUploadStatus
from ._dataset_rows import ROWS_CHECKED, row_problems
from ._datasets import DatasetEndpoints, dataset_fields, required_text
from ._errors import APITimeoutError, DatasetUploadError, NebiusError
from ._routes import CallOptions, Progress, report_progress
from ._upload_journal import (
    Journal,
    fingerprint,
    journal_path,
    part_plan,
    read_journal,
    write_journal,
)

log = logging.getLogger("nebius_ft_async")

DEFAULT_PART_SIZE = 64 * 1024 * 1024
"""The part size ``upload_dataset`` takes by default: 64 MiB."""
DEFAULT_UPLOAD_CONCURRENCY = 4
"""Parts ``upload_dataset`` sends at once by default."""
MAX_UPLOAD_CONCURRENCY = 64
CANCEL_GRACE = 5.0
"""Seconds the server is given to cancel an upload that failed or was cancelled."""
_JSON_LINES_SUFFIXES = (".jsonl", ".ndjson")


class DatasetUploads(DatasetEndpoints):
    """A dataset file uploaded in parts, on the multipart upload calls."""

    async def upload_dataset(
        self,
        path: str | os.PathLike[str],
        *,
        name: str,
        schema: Sequence[Mapping[str, Any]],
        folder: str,
        part_size: int = DEFAULT_PART_SIZE,
        concurrency: int = DEFAULT_UPLOAD_CONCURRENCY,
        on_progress: Progress | None = None,
        on_part: Progress | None = None,
        resume: bool = False,
        journal: str | os.PathLike[str] | None = None,
        keep_on_error: bool = False,
        check: bool = True,
        poll_interval: float = 1.0,
        timeout: float | None = None,
        ai_project_id: str | None = None,
    ) -> Dataset:
        """Upload a dataset file in parts and return the dataset once the server made it.

        ::

            dataset = await session.upload_dataset(
                "rows.jsonl",
                name="support-chats",
                schema=[{"name": "text", "type": {"name": "string"}}],
                folder="/datasets",
            )

        The file's bytes go as they are, ``part_size`` bytes a part (the API does not
        publish what a part must hold; the server parses the assembled file), up to
        ``concurrency`` parts at once, each streamed from disk: memory stays small whatever
        the sizes. A JSON Lines file (``.jsonl``, ``.ndjson``) has its first rows checked
        against ``schema`` first, and nothing is sent if they do not fit (``check=False``
        skips it). ``on_progress(sent, total)`` is told the bytes sent, ``on_part(done, parts)``
        the parts the server has taken (those a resumed upload sent before count from the
        start); once ``done == parts``, what is left is the server assembling the dataset.

        Each part is retried as the session retries reads (a part sent twice is harmless:
        only the ids given to complete are assembled). Once every part is in, the upload is
        completed with the parts' ids in file order and polled every ``poll_interval``
        seconds until it is ``COMPLETED`` (the dataset is returned) or ``FAILED`` /
        ``CANCELLED`` (``DatasetUploadError`` with the server's ``error``).

        A journal beside the file (``FILE.upload.json``, or at ``journal`` when the file's
        folder cannot be written: a place that cannot be written is refused before anything
        is sent) records the upload and each part sent; after a crash, ``resume=True`` sends
        only the parts missing (with the part size the upload began with), or only waits if
        it was completed already, and refuses a file whose size or modification time
        changed. A failure that retries cannot mend, the
        ``timeout`` (seconds for the whole upload), or cancelling the caller cancels the
        upload on the server (given up to 5 s more) and removes the journal, unless
        ``keep_on_error=True``, which keeps both for a later ``resume=True``.
        """
        import anyio.to_thread  # here, not at import: the package starts no thread machinery

        source = Path(path)
        if not await anyio.Path(source).is_file():
            raise FileNotFoundError(f"no dataset file to upload at {source}")
        stat = await anyio.Path(source).stat()
        if stat.st_size == 0:
            raise ValueError(f"{source} is empty: a dataset needs rows")
        dataset_fields(name, schema, folder)
        part_size = positive_count("part_size", part_size)
        concurrency = positive_count("concurrency", concurrency)
        if concurrency > MAX_UPLOAD_CONCURRENCY:
            raise ValueError(
                f"concurrency must be at most {MAX_UPLOAD_CONCURRENCY}, got {concurrency}"
            )
        for callback_name, callback in (("on_progress", on_progress), ("on_part", on_part)):
            if callback is not None and not callable(callback):
                raise ValueError(f"{callback_name} must be callable, got {callback!r}")
        poll_interval = positive_seconds(
            "poll_interval", poll_interval, at_least=self.min_poll_interval
        )
        timeout = optional_timeout("timeout", timeout)
        journal_at = journal_path(source) if journal is None else Path(journal)
        if not await anyio.to_thread.run_sync(os.access, journal_at.parent, os.W_OK):
            raise ValueError(
                f"cannot keep the upload's journal at {journal_at}: its folder cannot be "
                "written (journal= names another place)"
            )
        options: CallOptions = {}
        if ai_project_id is not None:
            options["ai_project_id"] = required_text(ai_project_id, "ai_project_id")
        if check:
            problems = await anyio.to_thread.run_sync(schema_problems, source, schema)
            if problems:
                raise DatasetUploadError(
                    f"{source} does not fit the schema (nothing was sent; check=False skips "
                    "this check):\n  " + "\n  ".join(problems)
                )
        run = _Run(self, source, journal_at, stat, options, on_progress, on_part)
        try:
            with anyio.fail_after(timeout):
                return await run.go(
                    name, schema, folder, part_size, concurrency, resume, poll_interval
                )
        except BaseException as error:
            if not keep_on_error and run.upload_id is not None and not run.finished:
                await run.give_up()
            if isinstance(error, TimeoutError) and timeout is not None:
                raise APITimeoutError(
                    f"upload_dataset {source} did not finish within {timeout:g} s"
                    + ("" if run.upload_id is None else f" (upload {run.upload_id})")
                ) from None
            raise


def schema_problems(source: Path, schema: Sequence[Mapping[str, Any]]) -> list[str]:
    """What ``upload_dataset`` finds wrong in the first rows of a JSON Lines file
    (``.jsonl``, ``.ndjson``) given ``schema``: one line each, empty when they fit or the
    file is of another kind (disk work: run it in a thread from async code)."""
    if source.suffix.lower() not in _JSON_LINES_SUFFIXES:
        return []
    with open(source, "rb") as file:
        lines = (line for _, line in zip(range(ROWS_CHECKED), file, strict=False))
        return row_problems(lines, schema)


class _Run:
    """One ``upload_dataset`` call: its upload, journal and progress."""

    def __init__(
        self,
        session: DatasetEndpoints,
        source: Path,
        journal_at: Path,
        stat: os.stat_result,
        options: CallOptions,
        on_progress: Progress | None,
        on_part: Progress | None,
    ) -> None:
        self.session, self.source, self.options = session, source, options
        self.size, self.print = stat.st_size, fingerprint(stat)
        self.on_progress, self.on_part = on_progress, on_part
        self.journal_path = journal_at
        self.upload_id: str | None = None
        self.finished = False  # the upload is over on the server: nothing to cancel
        self.sent: dict[int, int] = {}
        self.lock = anyio.Lock()

    async def go(
        self,
        name: str,
        schema: Sequence[Mapping[str, Any]],
        folder: str,
        part_size: int,
        concurrency: int,
        resume: bool,
        poll_interval: float,
    ) -> Dataset:
        journal = await self._journal(resume)
        if journal is None:
            upload = await self.session.create_dataset_upload(
                name=name, schema=schema, folder=folder, **self.options
            )
            journal = Journal(
                upload_id=upload.id, part_size=part_size, size=self.size, fingerprint=self.print
            )
            self.upload_id = upload.id
            await self._save(journal)
        else:
            self.upload_id = journal.upload_id
            upload = await self.session.get_dataset_upload(journal.upload_id, **self.options)
            status = upload.upload_info.status
            if status is not None and status.is_terminal:
                return await self._settled(upload)
            if status == DatasetUploadStatus.COMPLETING:  # completed before the crash
                return await self._assembled(journal.upload_id, poll_interval)
        plan = part_plan(self.size, journal.part_size)
        for index in journal.parts:
            self.sent[index] = plan[index][1]
        self._progress()
        self._parts(journal, len(plan))
        missing = iter([index for index in range(len(plan)) if index not in journal.parts])
        try:
            async with anyio.create_task_group() as group:
                for _ in range(min(concurrency, len(plan))):
                    group.start_soon(self._send_parts, missing, plan, journal)
        except BaseExceptionGroup as failures:  # the first part that failed stopped the rest
            raise _first(failures) from None
        part_ids = [journal.parts[index] for index in range(len(plan))]
        await self.session.complete_dataset_upload(
            journal.upload_id, part_ids=part_ids, **self.options
        )
        return await self._assembled(journal.upload_id, poll_interval)

    async def _assembled(self, upload_id: str, poll_interval: float) -> Dataset:
        """Poll a completed upload until the server is done with it."""
        while True:
            upload = await self.session.get_dataset_upload(upload_id, **self.options)
            status = upload.upload_info.status
            if status is not None and status.is_terminal:
                return await self._settled(upload)
            await anyio.sleep(poll_interval)

    async def _journal(self, resume: bool) -> Journal | None:
        journal = await anyio.to_thread.run_sync(read_journal, self.journal_path)
        if journal is None:
            if resume:
                log.info("no journal at %s: starting a new upload", self.journal_path)
            return None
        if not resume:
            log.warning(
                "%s names upload %s, which is left as it is: starting a new upload "
                "(resume=True would go on with it)",
                self.journal_path,
                journal.upload_id,
            )
            return None
        if journal.fingerprint != self.print or journal.size != self.size:
            raise DatasetUploadError(
                f"{self.source} changed since upload {journal.upload_id} began (its size or "
                f"modification time differ from {self.journal_path}'s record): its parts "
                "would not make one file. Remove the journal to start again.",
                upload_id=journal.upload_id,
            )
        return journal

    async def _send_parts(
        self, missing: Iterator[int], plan: list[tuple[int, int]], journal: Journal
    ) -> None:
        for index in missing:
            offset, length = plan[index]

            def sent(done: int, _total: int | None, index: int = index) -> None:
                self.sent[index] = done
                self._progress()

            part = await self.session.upload_dataset_part(
                journal.upload_id,
                self.source,
                offset=offset,
                length=length,
                on_progress=sent if self.on_progress is not None else None,
                **self.options,
            )
            self.sent[index] = length
            journal.parts[index] = part.id
            self._progress()
            self._parts(journal, len(plan))
            await self._save(journal)

    def _progress(self) -> None:
        if self.on_progress is not None:
            report_progress(self.on_progress, sum(self.sent.values()), self.size)

    def _parts(self, journal: Journal, parts: int) -> None:
        if self.on_part is not None:
            report_progress(self.on_part, len(journal.parts), parts, name="on_part")

    async def _save(self, journal: Journal) -> None:
        async with self.lock:
            await anyio.to_thread.run_sync(write_journal, self.journal_path, journal)

    async def _forget(self) -> None:
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(_remove, self.journal_path)

    async def _settled(self, upload: DatasetUpload) -> Dataset:
        info = upload.upload_info
        self.finished = True
        await self._forget()
        if info.status == DatasetUploadStatus.COMPLETED:
            dataset_id = (info.dataset or {}).get("id")
            if not isinstance(dataset_id, str) or not dataset_id:
                raise DatasetUploadError(
                    f"upload {upload.id} is COMPLETED but names no dataset id",
                    upload_id=upload.id,
                    status=info.status,
                )
            return await self.session.get_dataset(dataset_id)
        reason = info.error or "no reason given"
        raise DatasetUploadError(
            f"upload {upload.id} of {self.source} is {info.status}, not COMPLETED: {reason}",
            upload_id=upload.id,
            status=info.status,
            error=info.error,
        )

    async def give_up(self) -> None:
        """Cancel the upload on the server (for at most ``CANCEL_GRACE`` seconds) and
        forget its journal; a cancel that fails is logged, not raised."""
        assert self.upload_id is not None
        with anyio.CancelScope(shield=True), anyio.move_on_after(CANCEL_GRACE):
            try:
                await self.session.cancel_dataset_upload(self.upload_id, **self.options)
            except NebiusError as error:
                log.warning("cancelling upload %s failed: %s", self.upload_id, error)
        await self._forget()


def _first(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The failure a task group stands for: its first exception that is not a
    cancellation of the others."""
    for error in group.exceptions:
        if isinstance(error, BaseExceptionGroup):
            error = _first(error)
        if not isinstance(error, anyio.get_cancelled_exc_class()):
            return error
    return group.exceptions[0]


def _remove(path: Path) -> None:
    path.unlink(missing_ok=True)

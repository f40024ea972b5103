"""``nebius-ft jobs wait``: a first look at every job, then a wait for those still going.

The first look comes before ``--timeout`` is judged, so a job already final is reported as
final even with ``--timeout 0`` (which means: look once, do not wait). It takes at most one
poll timeout (``max(2 * --interval, 5 s)``) a request; the wait that follows at most
``--timeout``. The jobs show in a live table on a terminal that can redraw (``_live``, when
rich is installed), else as plain lines (``_display``).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from contextlib import suppress
from typing import TextIO

import anyio

from .._endpoints import Endpoints
from .._errors import (
    APIConnectionError,
    APIError,
    APIStatusError,
    APITimeoutError,
    JobWaitError,
    WaitTimeout,
)
from .._fleet import FLEET_MIN_JOBS, walk_fleet
from .._models import FineTuningJob
from .._monitor import DEFAULT_MAX_CONCURRENT_POLLS, Outcome, wait_for_jobs
from .._polling import default_poll_timeout, log_transient, transient_wait
from ._display import (
    TIMED_OUT,
    Display,
    JobLine,
    PlainDisplay,
    is_dumb_terminal,
    logs_above,
    number_or_none,
)

EXIT_OK, EXIT_JOB_FAILED, EXIT_TIMEOUT = 0, 1, 124


def make_display(job_ids: list[str], out: TextIO | None = None) -> Display:
    """A live table when ``out`` is a terminal that can redraw and rich is installed, else
    plain lines."""
    stream = out or sys.stdout
    if stream.isatty() and not is_dumb_terminal():
        try:
            from ._live import LiveDisplay
        except ImportError:
            pass
        else:
            return LiveDisplay(job_ids, stream)
    return PlainDisplay(job_ids, stream)


async def latest_train_loss(session: Endpoints, job_id: str, timeout: float) -> float | None:
    """The train loss of the newest metrics event on the first page of events.

    ``None`` when there is none, or the newest is not a finite number (NaN, "n/a", 10**400).
    """
    page = await session.list_events(job_id, limit=20, timeout=timeout)
    metrics = [e for e in page.data if e.metrics and e.metrics.get("train_loss") is not None]
    if not metrics:
        return None
    newest = max(metrics, key=lambda event: (event.created_at, event.id))
    assert newest.metrics is not None
    return number_or_none(newest.metrics["train_loss"])


def error_note(error: BaseException | None) -> str:
    """What an error says in one short cell: ``HTTP 404: Job ftjob-x not found``."""
    if isinstance(error, APIStatusError):
        detail = error.detail if isinstance(error.detail, str) and error.detail else ""
        return f"HTTP {error.status_code}: {detail}" if detail else str(error)
    return "" if error is None else str(error)


def outcome_line(job_id: str, outcome: Outcome, loss: float | None) -> JobLine:
    """The line shown once a job's watch is over: its final state, or why it ended."""
    if isinstance(outcome, FineTuningJob):
        return JobLine.of(outcome, loss)
    last = outcome.job
    line = JobLine(job_id) if last is None else JobLine.of(last, loss)
    if isinstance(outcome, WaitTimeout):
        line.note = TIMED_OUT
        if last is None:
            line.status = "unknown"
    else:
        if last is None:
            error = outcome.error
            not_found = isinstance(error, APIStatusError) and error.status_code == 404
            line.status = "not found" if not_found else "error"
        line.note = error_note(outcome.error)
    return line


async def first_look(
    session: Endpoints, job_ids: Sequence[str], poll_timeout: float, interval: float
) -> dict[str, FineTuningJob | APIStatusError]:
    """Each job once, or the error status its GET got; every request within ``poll_timeout``.

    From ``FLEET_MIN_JOBS`` jobs on, list pages are read first (as the monitor's fleet
    refresh does); the jobs they do not show get one GET each, at most
    ``DEFAULT_MAX_CONCURRENT_POLLS`` at once.

    A passing error (429, 5xx, a timeout) leaves the job out (logged, like any poll that
    will be retried): the wait will poll it. An error no poll can get past (the API cannot
    be reached, the key is refused, an answer that is not a job) is raised, so a wrong key
    or URL fails at once instead of being polled forever.
    """
    limit = anyio.Semaphore(DEFAULT_MAX_CONCURRENT_POLLS)
    seen: dict[str, FineTuningJob | APIStatusError] = {}
    fatal: list[APIError] = []
    if len(job_ids) >= FLEET_MIN_JOBS:

        async def sighted(job_id: str, job: FineTuningJob) -> None:
            seen[job_id] = job

        walk = await walk_fleet(session, dict.fromkeys(job_ids), sighted, poll_timeout)
        job_ids = [job_id for job_id in job_ids if job_id in walk.unseen]

    async def look(job_id: str) -> None:
        async with limit:
            if fatal:
                return
            try:
                seen[job_id] = await session.get_job(job_id, timeout=poll_timeout)
            except APIError as error:
                wait = transient_wait(error, interval)
                if _hopeless(error):
                    fatal.append(error)
                elif wait is not None:
                    log_transient(job_id, error, wait)
                elif isinstance(error, APIStatusError):
                    seen[job_id] = error
                else:
                    fatal.append(error)

    async with anyio.create_task_group() as group:
        for job_id in job_ids:
            group.start_soon(look, job_id)
    if fatal:
        raise fatal[0]
    return seen


def _hopeless(error: APIError) -> bool:
    """True for errors that polling again cannot get past: the key refused (401, 403), or
    no connection at all (refused, DNS; a timeout is only slow)."""
    if isinstance(error, APIStatusError):
        return error.status_code in (401, 403)
    return isinstance(error, APIConnectionError) and not isinstance(error, APITimeoutError)


async def watch_jobs(
    session: Endpoints, job_ids: list[str], *, interval: float, timeout: float | None
) -> int:
    """Wait for jobs, shown as they change; the exit code of ``jobs wait``.

    0 when every job succeeded, 124 when any was still going at ``timeout`` (0: do not
    wait), else 1 (a job failed, was cancelled, or could not be watched).
    """
    poll_timeout = default_poll_timeout(interval)
    losses: dict[str, float | None] = {}

    async def train_loss(job_id: str) -> float | None:
        with suppress(APIError):  # the loss is a nicety: keep the last rather than stop
            losses[job_id] = await latest_train_loss(session, job_id, poll_timeout)
        return losses.get(job_id)

    async def on_update(job: FineTuningJob) -> None:
        display.update(JobLine.of(job, await train_loss(job.id)))

    display = make_display(job_ids)
    outcomes: dict[str, Outcome] = {}
    try:
        with logs_above(display):
            seen = await first_look(session, job_ids, poll_timeout, interval)
            waiting: list[str] = []
            async with anyio.create_task_group() as group:  # losses read side by side
                for job_id in job_ids:
                    job = seen.get(job_id)
                    if isinstance(job, APIStatusError):
                        outcomes[job_id] = JobWaitError(
                            str(job), kind="job", object_id=job_id, error=job
                        )
                    elif job is not None and job.is_terminal:
                        outcomes[job_id] = job
                        group.start_soon(train_loss, job_id)
                    else:
                        waiting.append(job_id)
                        if job is not None:
                            group.start_soon(on_update, job)
            if waiting and timeout == 0:
                for job_id in waiting:
                    last = seen.get(job_id)
                    outcomes[job_id] = WaitTimeout(
                        f"job {job_id} is not finished (--timeout 0: looked once)",
                        kind="job",
                        object_id=job_id,
                        last=last if isinstance(last, FineTuningJob) else None,
                    )
            elif waiting:
                outcomes |= await wait_for_jobs(
                    session, waiting, poll_interval=interval, timeout=timeout, on_update=on_update
                )
            for job_id in job_ids:
                outcome = outcomes[job_id]
                display.update(outcome_line(job_id, outcome, losses.get(job_id)))
    finally:
        display.close()
    return exit_code([outcomes[job_id] for job_id in job_ids])


def exit_code(outcomes: list[Outcome]) -> int:
    """124 if any job timed out, 0 if every job succeeded, else 1."""
    if any(isinstance(o, WaitTimeout) for o in outcomes):
        return EXIT_TIMEOUT
    if all(isinstance(o, FineTuningJob) and o.status == "succeeded" for o in outcomes):
        return EXIT_OK
    return EXIT_JOB_FAILED

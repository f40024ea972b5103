"""Polling helpers for one object: wait for a job or an operation, follow a job's events.

They share one notion of a poll with ``_monitor`` (many jobs): a transient failure
(connection trouble, a timeout, 408/409/429/5xx after the session's own retries) means "poll
again later, no sooner than the server asked"; anything else ends the wait with that error.
Each poll is bounded by its own poll timeout, and a wait's ``timeout`` ends it at its
deadline whatever it is waiting on.
"""

from __future__ import annotations

import inspect
import logging
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Generic, NamedTuple, Protocol, TypeVar

import anyio

from ._calls import PollingSession
from ._checks import optional_timeout, positive_count, positive_seconds
from ._errors import APIError, JobWaitError, WaitTimeout
from ._models import (
    CustomModel,
    FileObject,
    FineTuningJob,
    FineTuningJobEvent,
    Operation,
    Page,
)
from ._paging import DEFAULT_PAGE_SIZE
from ._retry import is_retryable

log = logging.getLogger("nebius_ft_async")

DEFAULT_POLL_INTERVAL = 5.0
"""Seconds between two polls of one job."""
POLL_JITTER = 0.1
"""Each wait is the poll interval give or take this fraction, so waiters do not synchronise."""
MIN_POLL_TIMEOUT = 5.0
"""The shortest default poll timeout: one poll may take ``max(2 * poll_interval, 5 s)``."""

FinalT = TypeVar("FinalT", FineTuningJob, Operation, CustomModel, FileObject)


class ListedItem(Protocol):
    """An item of a list, with the ``id`` and ``created_at`` that order it."""

    @property
    def id(self) -> str: ...

    @property
    def created_at(self) -> int: ...


EventT = TypeVar("EventT", bound=ListedItem)


OnUpdate = Callable[[FineTuningJob], Any]
"""Called with the job when something a person watches changes; may be async."""


def watched_state(job: FineTuningJob) -> tuple[object, ...]:
    """What a person watching a job cares about; ``on_update`` fires when it changes."""
    return (
        job.status,
        job.trained_steps,
        job.total_steps,
        job.trained_tokens,
        job.estimated_finish,
    )


def next_poll_delay(poll_interval: float, rng: random.Random | None = None) -> float:
    """The poll interval with a little jitter (±10%)."""
    return poll_interval * (1 + POLL_JITTER * (2 * (rng or random).random() - 1))


def default_poll_timeout(poll_interval: float) -> float:
    """How long one poll may take unless told: twice the interval, at least 5 s."""
    return max(2 * poll_interval, MIN_POLL_TIMEOUT)


class PollOptions(NamedTuple):
    """A wait's checked options: seconds between polls, for one poll, for the whole wait."""

    interval: float
    poll_timeout: float
    timeout: float | None


def poll_options(
    session: PollingSession,
    poll_interval: float,
    timeout: float | None,
    poll_timeout: float | None = None,
) -> PollOptions:
    """Check a wait's options (``ValueError`` naming the bad one) and fill in the defaults.

    ``poll_interval`` must be at least ``session.min_poll_interval``; ``timeout`` and
    ``poll_timeout`` finite and above 0 when given.
    """
    interval = positive_seconds("poll_interval", poll_interval, at_least=session.min_poll_interval)
    if poll_timeout is None:
        poll_timeout = default_poll_timeout(interval)
    else:
        poll_timeout = positive_seconds("poll_timeout", poll_timeout)
    return PollOptions(interval, poll_timeout, optional_timeout("timeout", timeout))


def transient_wait(error: BaseException, poll_interval: float) -> float | None:
    """How long to wait before polling again after ``error``; ``None`` if it is permanent."""
    if not isinstance(error, APIError) or not is_retryable(error):
        return None
    retry_after = getattr(error, "retry_after", None) or 0.0
    return max(poll_interval, retry_after)


class WaitState(Generic[FinalT]):
    """What one wait remembers of what it polls: a job (an operation, a model, a file)."""

    __slots__ = ("deadline", "job_id", "kind", "last", "last_state")

    def __init__(self, kind: str, job_id: str, deadline: float | None = None) -> None:
        self.kind = kind
        self.job_id = job_id
        self.deadline = deadline
        self.last: FinalT | None = None
        self.last_state: tuple[object, ...] | None = None

    async def record(
        self,
        value: FinalT,
        state: tuple[object, ...],
        on_update: Callable[[FinalT], Any] | None,
    ) -> FinalT:
        """Remember ``value``, and tell ``on_update`` if its watched ``state`` changed.

        An exception from ``on_update`` ends this watch: it is raised as the cause of a
        ``JobWaitError`` (the same in every helper, so one job's callback cannot stop a
        monitor's other jobs).
        """
        if self.remember(value, state) and on_update is not None:
            await self.tell(on_update, value)
        return value

    def remember(self, value: FinalT, state: tuple[object, ...]) -> bool:
        """Remember ``value``; true if its watched ``state`` changed (``record`` without
        the callback, so a poll with nothing to tell costs no coroutine)."""
        self.last = value
        if state == self.last_state:
            return False
        self.last_state = state
        return True

    async def tell(self, on_update: Callable[[FinalT], Any], value: FinalT) -> None:
        """Call ``on_update`` with ``value``; what it raises becomes a ``JobWaitError``."""
        try:
            await _notify(on_update, value)
        except Exception as error:
            raise JobWaitError(
                f"watching {self.job_id} stopped: on_update raised {error!r}",
                kind=self.kind,
                object_id=self.job_id,
                last=value,
                error=error,
            ) from error


async def _poll(
    session: PollingSession,
    watch: WaitState[FineTuningJob],
    on_update: OnUpdate | None,
    timeout: float,
) -> FineTuningJob:
    """Get the job once, remember it, and tell ``on_update`` if what is watched changed."""
    job = await session.get_job(watch.job_id, timeout=timeout)
    return await watch.record(job, watched_state(job), on_update)


async def _notify(on_update: Callable[[Any], Any], value: object) -> None:
    """Call a plain or async callback."""
    result = on_update(value)
    if inspect.isawaitable(result):
        await result


def log_transient(object_id: str, error: BaseException, wait: float) -> None:
    log.warning("polling %s failed (%s); polling again in %.1f s", object_id, error, wait)


async def wait_for_job(
    session: PollingSession,
    job_id: str,
    *,
    poll_interval: float = DEFAULT_POLL_INTERVAL,
    timeout: float | None = None,
    on_update: OnUpdate | None = None,
    poll_timeout: float | None = None,
) -> FineTuningJob:
    """Poll a job until it has succeeded, failed or been cancelled, and return it.

    ::

        job = await wait_for_job(session, "ftjob-abc", on_update=lambda j: print(j.status))
        if job.status == "failed":
            print(job.error)

    The first poll is immediate, later ones ``poll_interval`` apart (±10%). A failed job is
    returned, not raised. Transient failures keep the wait going (no sooner than a
    ``Retry-After`` asks); permanent ones (401, 403, 404, 422, ...) are raised at once.
    ``timeout`` raises ``WaitTimeout`` carrying the last job seen, at its deadline whatever
    the wait is doing then (a 429 pause, a poll that hangs). Each poll gives up after
    ``poll_timeout`` (default: twice the interval, at least 5 s) and counts as a transient
    failure. Cancelling the caller stops the wait at once.

    ``poll_interval`` must be at least ``session.min_poll_interval`` (1 s against the real
    API); a bad interval or timeout raises ``ValueError`` naming it.
    """
    options = poll_options(session, poll_interval, timeout, poll_timeout)
    watch: WaitState[FineTuningJob] = WaitState("job", job_id)
    job = await poll_until_final(
        lambda: _poll(session, watch, on_update, options.poll_timeout), job_id, options
    )
    if job is None:
        raise timeout_error(watch, options.timeout)
    return job


async def wait_for_operation(
    session: PollingSession,
    operation_id: str,
    *,
    poll_interval: float = DEFAULT_POLL_INTERVAL,
    timeout: float | None = None,
    on_update: Callable[[Operation], Any] | None = None,
    poll_timeout: float | None = None,
) -> Operation:
    """Poll an operation until it has succeeded, failed or been cancelled, and return it.

    The same rules as ``wait_for_job``: ``unknown`` is not final, a failed operation is
    returned (``get_operation_errors`` says why), ``on_update`` fires when the status
    changes, ``timeout`` raises ``WaitTimeout`` with the last operation in ``.operation``.
    Then ``get_operation_results`` gives its checkpoints or output file id.
    """
    options = poll_options(session, poll_interval, timeout, poll_timeout)
    watch: WaitState[Operation] = WaitState("operation", operation_id)

    async def poll() -> Operation:
        operation = await session.get_operation(operation_id, timeout=options.poll_timeout)
        return await watch.record(operation, (operation.status,), on_update)

    operation = await poll_until_final(poll, operation_id, options)
    if operation is None:
        raise timeout_error(watch, options.timeout)
    return operation


async def poll_until_final(
    poll: Callable[[], Awaitable[FinalT]],
    object_id: str,
    options: PollOptions,
) -> FinalT | None:
    """Call ``poll`` until what it returns is final; ``None`` when the timeout ran out."""
    poll_interval = options.interval
    with anyio.move_on_after(options.timeout):
        while True:
            try:
                current = await poll()
            except APIError as error:
                wait = transient_wait(error, poll_interval)
                if wait is None:
                    raise
                log_transient(object_id, error, wait)
            else:
                if current.is_terminal:
                    return current
                wait = next_poll_delay(poll_interval)
            await anyio.sleep(wait)
    return None


def timeout_error(watch: WaitState[FinalT], timeout: float | None) -> WaitTimeout:
    """The WaitTimeout for a wait: the last object it saw rides on it."""
    last = watch.last
    status = last.status if last is not None else "never seen"
    return WaitTimeout(
        f"{watch.kind} {watch.job_id} did not finish within {timeout:g} s (last status: {status})",
        kind=watch.kind,
        object_id=watch.job_id,
        last=last,
    )


def follow_events(
    session: PollingSession,
    job_id: str,
    *,
    poll_interval: float = DEFAULT_POLL_INTERVAL,
    page_size: int = DEFAULT_PAGE_SIZE,
    timeout: float | None = None,
    poll_timeout: float | None = None,
) -> AsyncIterator[FineTuningJobEvent]:
    """Yield a job's events as they appear, oldest first, each exactly once.

    Each round yields the events not seen before, sorted by ``created_at`` then ``id`` (the
    API promises no order). Ends once the job is final and its last events are drained.
    Transient failures are waited out like in ``wait_for_job``; permanent ones are raised.
    ``timeout`` (seconds from the first round) raises ``WaitTimeout`` with the last job seen,
    at its deadline even while a round is waiting on the server; each request gives up after
    ``poll_timeout``.
    """
    return follow_listed_events(
        session,
        job_id,
        session.list_events,
        poll_interval=poll_interval,
        page_size=page_size,
        timeout=timeout,
        poll_timeout=poll_timeout,
    )


async def follow_listed_events(
    session: PollingSession,
    job_id: str,
    list_events: Callable[..., Awaitable[Page[EventT]]],
    *,
    poll_interval: float = DEFAULT_POLL_INTERVAL,
    page_size: int = DEFAULT_PAGE_SIZE,
    timeout: float | None = None,
    poll_timeout: float | None = None,
) -> AsyncIterator[EventT]:
    """``follow_events`` over the pages ``list_events`` gives: it is called as
    ``session.list_events`` is (``job_id``, then ``limit``, ``after`` and ``timeout`` as
    keywords), so a caller can keep more of each event than its model does, such as the
    command line's ``--json``, which prints each as the server sent it."""
    options = poll_options(session, poll_interval, timeout, poll_timeout)
    positive_count("page_size", page_size)
    watch: WaitState[FineTuningJob] = WaitState("job", job_id)
    seen: set[str] = set()
    tail: str | None = None
    deadline = None if options.timeout is None else anyio.current_time() + options.timeout
    while True:
        fresh: list[EventT] = []
        wait: float | None = None
        with anyio.move_on_after(_seconds_left(deadline)) as round_scope:
            try:
                job = await session.get_job(job_id, timeout=options.poll_timeout)
                watch.last = job
                tail = await _collect_new_events(
                    list_events, job_id, page_size, seen, tail, fresh, options.poll_timeout
                )
            except APIError as error:
                wait = transient_wait(error, options.interval)
                if wait is None:
                    raise
                log_transient(job_id, error, wait)
            else:
                wait = None if job.is_terminal else next_poll_delay(options.interval)
        fresh.sort(key=lambda event: (event.created_at, event.id))
        for event in fresh:
            yield event
        if round_scope.cancelled_caught:
            raise timeout_error(watch, options.timeout)
        if wait is None:
            return
        with anyio.move_on_after(_seconds_left(deadline)) as sleep_scope:
            await anyio.sleep(wait)
        if sleep_scope.cancelled_caught:
            raise timeout_error(watch, options.timeout)


def _seconds_left(deadline: float | None) -> float | None:
    return None if deadline is None else max(deadline - anyio.current_time(), 0.0)


async def _collect_new_events(
    list_events: Callable[..., Awaitable[Page[EventT]]],
    job_id: str,
    page_size: int,
    seen: set[str],
    tail: str | None,
    fresh: list[EventT],
    poll_timeout: float,
) -> str | None:
    """Add the events not in ``seen`` to ``fresh`` in few requests, whatever the list order.

    New events show up on the first pages of a newest-first list, or after the previous
    walk's last item (``tail``) in an oldest-first one: walk from the start while pages hold
    new events, then jump to the old tail. Returns the new tail. Events are added to
    ``fresh`` as they arrive, so a failure midway loses none of them.
    """
    after: str | None = None
    cursors_used: set[str | None] = {None}
    jumped = False
    while True:
        page = await list_events(job_id, limit=page_size, after=after, timeout=poll_timeout)
        new = [event for event in page.data if event.id not in seen]
        seen.update(event.id for event in new)
        fresh.extend(new)
        if not page.data:
            return tail
        last_id = page.data[-1].id
        if not page.has_more:
            return last_id
        if not new and jumped:
            return tail  # past the jump, a page of nothing new: the rest was seen before
        if not new and tail is not None and tail not in cursors_used:
            after, jumped = tail, True
        elif last_id in cursors_used:
            return tail  # the cursor came back: a server that cycles cannot trap the walk
        else:
            after = last_id
        cursors_used.add(after)

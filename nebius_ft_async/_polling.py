"""Polling helpers: wait for one job, watch many at once, follow a job's events live.

All three share one notion of a poll: a transient failure (connection trouble, a timeout,
408/409/429/5xx after the session's own retries) means "poll again later, no sooner than the
server asked"; anything else ends the wait with that error.
"""

from __future__ import annotations

import asyncio
import heapq
import inspect
import itertools
import logging
import random
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from types import TracebackType
from typing import Any, Generic, Self, TypeVar

import anyio

from ._endpoints import Endpoints
from ._errors import APIError, NebiusError, RateLimitError
from ._models import FineTuningJob, FineTuningJobEvent, Operation
from ._paging import DEFAULT_PAGE_SIZE
from ._retry import is_retryable

log = logging.getLogger("nebius_ft_async")

DEFAULT_POLL_INTERVAL = 5.0
"""Seconds between two polls of one job."""
POLL_JITTER = 0.1
"""Each wait is the poll interval give or take this fraction, so waiters do not synchronise."""
DEFAULT_MAX_CONCURRENT_POLLS = 32
"""Polls in flight at once in a JobMonitor, however many jobs it watches."""

FinalT = TypeVar("FinalT", FineTuningJob, Operation)

OnUpdate = Callable[[FineTuningJob], Any]
"""Called with the job when something a person watches changes; may be async."""


class JobWaitError(NebiusError):
    """Watching a job (or an operation) ended without a final state.

    ``job_id`` names the job, ``job`` is the last state seen (``None`` if never seen) and
    ``error`` is the cause (for example a ``NotFoundError``), also set as ``__cause__``.
    From ``wait_for_operation``, ``job_id`` holds the operation id and ``operation`` the last
    operation seen.
    """

    def __init__(
        self,
        message: str,
        *,
        job_id: str,
        job: FineTuningJob | None = None,
        error: BaseException | None = None,
        operation: Operation | None = None,
    ) -> None:
        super().__init__(message)
        self.job_id = job_id
        self.job = job
        self.error = error
        self.operation = operation
        self.__cause__ = error


class WaitTimeout(JobWaitError, TimeoutError):
    """The job did not reach a final state in time; ``job`` is the last state seen."""


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


def transient_wait(error: BaseException, poll_interval: float) -> float | None:
    """How long to wait before polling again after ``error``; ``None`` if it is permanent."""
    if not isinstance(error, APIError) or not is_retryable(error):
        return None
    retry_after = getattr(error, "retry_after", None) or 0.0
    return max(poll_interval, retry_after)


class _Watch(Generic[FinalT]):
    """What is remembered of one watched job (or operation)."""

    __slots__ = ("deadline", "job_id", "last", "last_state")

    def __init__(self, job_id: str, deadline: float | None = None) -> None:
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
        """Remember ``value``, and tell ``on_update`` if its watched ``state`` changed."""
        self.last = value
        if state != self.last_state:
            self.last_state = state
            if on_update is not None:
                await _notify(on_update, value)
        return value


async def _poll(
    session: Endpoints,
    watch: _Watch[FineTuningJob],
    on_update: OnUpdate | None,
    timeout: float | None = None,
) -> FineTuningJob:
    """Get the job once, remember it, and tell ``on_update`` if what is watched changed."""
    job = await session.get_job(watch.job_id, timeout=timeout)
    return await watch.record(job, watched_state(job), on_update)


async def _notify(on_update: Callable[[Any], Any], value: object) -> None:
    """Call a plain or async callback."""
    result = on_update(value)
    if inspect.isawaitable(result):
        await result


def _log_transient(object_id: str, error: BaseException, wait: float) -> None:
    log.warning("polling %s failed (%s); polling again in %.1f s", object_id, error, wait)


async def wait_for_job(
    session: Endpoints,
    job_id: str,
    *,
    poll_interval: float = DEFAULT_POLL_INTERVAL,
    timeout: float | None = None,
    on_update: OnUpdate | None = None,
) -> FineTuningJob:
    """Poll a job until it has succeeded, failed or been cancelled, and return it.

    ::

        job = await wait_for_job(session, "ftjob-abc", on_update=lambda j: print(j.status))
        if job.status == "failed":
            print(job.error)

    The first poll is immediate, later ones ``poll_interval`` apart (±10%). A failed job is
    returned, not raised. Transient failures keep the wait going (no sooner than a
    ``Retry-After`` asks); permanent ones (401, 403, 404, 422, ...) are raised at once.
    ``timeout`` raises ``WaitTimeout`` carrying the last job seen. Cancelling the caller
    stops the wait at once.
    """
    watch: _Watch[FineTuningJob] = _Watch(job_id)
    job = await _poll_until_final(
        lambda: _poll(session, watch, on_update), job_id, poll_interval, timeout
    )
    if job is None:
        raise _timeout_error(watch, timeout)
    return job


async def wait_for_operation(
    session: Endpoints,
    operation_id: str,
    *,
    poll_interval: float = DEFAULT_POLL_INTERVAL,
    timeout: float | None = None,
    on_update: Callable[[Operation], Any] | None = None,
) -> Operation:
    """Poll an operation until it has succeeded, failed or been cancelled, and return it.

    The same rules as ``wait_for_job``: ``unknown`` is not final, a failed operation is
    returned (``get_operation_errors`` says why), ``on_update`` fires when the status
    changes, ``timeout`` raises ``WaitTimeout`` with the last operation in ``.operation``.
    Then ``get_operation_results`` gives its checkpoints or output file id.
    """
    watch: _Watch[Operation] = _Watch(operation_id)

    async def poll() -> Operation:
        operation = await session.get_operation(operation_id)
        return await watch.record(operation, (operation.status,), on_update)

    operation = await _poll_until_final(poll, operation_id, poll_interval, timeout)
    if operation is None:
        raise _timeout_error(watch, timeout, kind="operation")
    return operation


async def _poll_until_final(
    poll: Callable[[], Awaitable[FinalT]],
    object_id: str,
    poll_interval: float,
    timeout: float | None,
) -> FinalT | None:
    """Call ``poll`` until what it returns is final; ``None`` when ``timeout`` ran out."""
    with anyio.move_on_after(timeout):
        while True:
            try:
                current = await poll()
            except APIError as error:
                wait = transient_wait(error, poll_interval)
                if wait is None:
                    raise
                _log_transient(object_id, error, wait)
            else:
                if current.is_terminal:
                    return current
                wait = next_poll_delay(poll_interval)
            await anyio.sleep(wait)
    return None


class JobMonitor:
    """Watches many jobs with one scheduler, and reports each as it reaches a final state.

    ::

        async with JobMonitor(session, poll_interval=10) as monitor:
            monitor.add("ftjob-a", "ftjob-b")
            async for outcome in monitor:          # ends when no job is left to watch
                if isinstance(outcome, JobWaitError):
                    print(outcome.job_id, "could not be watched:", outcome.error)
                else:
                    print(outcome.id, outcome.status)

    However many jobs it watches, it holds at most ``max_concurrent_polls`` requests in
    flight, one timer and a small record per job; the first polls of a batch are spread over
    one poll interval. Jobs can be added at any time. ``await monitor.wait(job_id)`` waits
    for one job (agent tools that submit jobs over time can share one monitor); an outcome
    goes to that ``wait`` call, or else to iteration.

    Each job gets ``timeout`` seconds from when it was added. A job's permanent error (a
    404, say) or timeout is reported for that job alone, as a ``JobWaitError`` (or
    ``WaitTimeout``); the others go on. A 429 pauses every poll for as long as the server
    asked.
    """

    def __init__(
        self,
        session: Endpoints,
        *,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        timeout: float | None = None,
        max_concurrent_polls: int = DEFAULT_MAX_CONCURRENT_POLLS,
        on_update: OnUpdate | None = None,
    ) -> None:
        if max_concurrent_polls < 1:
            raise ValueError(f"max_concurrent_polls must be at least 1, got {max_concurrent_polls}")
        self._session = session
        self._poll_interval = poll_interval
        self._timeout = timeout
        self._concurrency = max_concurrent_polls
        self._on_update = on_update
        self._watches: dict[str, _Watch[FineTuningJob]] = {}
        self._due: list[tuple[float, int, str]] = []
        self._order = itertools.count()
        self._paused_until = 0.0
        self._ready: asyncio.Queue[str] = asyncio.Queue(maxsize=max_concurrent_polls)
        self._outcomes: deque[tuple[str, FineTuningJob | JobWaitError]] = deque()
        self._waiters: dict[str, asyncio.Future[FineTuningJob]] = {}
        self._schedule_changed = asyncio.Event()
        self._outcome_added = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def watching(self) -> int:
        """How many jobs are being watched now."""
        return len(self._watches)

    async def __aenter__(self) -> Self:
        self._tasks.append(asyncio.create_task(self._dispatch()))
        self._tasks.extend(asyncio.create_task(self._work()) for _ in range(self._concurrency))
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop watching; pending ``wait()`` calls are cancelled."""
        for future in self._waiters.values():
            future.cancel()
        self._waiters.clear()
        for task in self._tasks:
            task.cancel()
        with anyio.CancelScope(shield=True):  # even when closed from a cancelled scope
            await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()

    def add(self, *job_ids: str) -> None:
        """Start watching these jobs (ids already watched are left as they are)."""
        fresh = [job_id for job_id in dict.fromkeys(job_ids) if job_id not in self._watches]
        now = asyncio.get_running_loop().time()
        deadline = None if self._timeout is None else now + self._timeout
        spread = (
            self._poll_interval if deadline is None else min(self._poll_interval, deadline - now)
        )
        for index, job_id in enumerate(fresh):
            self._watches[job_id] = _Watch(job_id, deadline)
            self._schedule(job_id, now + spread * index / len(fresh))

    async def wait(self, job_id: str) -> FineTuningJob:
        """Watch ``job_id`` (if not yet watched) and return it once final.

        Raises ``JobWaitError`` (or ``WaitTimeout``) if it cannot be watched to the end.
        """
        if not self._tasks:
            raise RuntimeError("use the JobMonitor inside 'async with' before waiting")
        future = self._waiters.get(job_id)
        if future is None or future.done():
            future = self._waiters[job_id] = asyncio.get_running_loop().create_future()
            self.add(job_id)
        # shielded: one cancelled caller must not cancel the others waiting for the same job
        return await asyncio.shield(future)

    def __aiter__(self) -> AsyncIterator[FineTuningJob | JobWaitError]:
        return (outcome async for _, outcome in self.outcomes_by_id())

    async def outcomes_by_id(self) -> AsyncIterator[tuple[str, FineTuningJob | JobWaitError]]:
        """Like iterating the monitor, with each outcome paired with the id it was added as
        (the server may spell a job's ``id`` differently)."""
        while True:
            if self._outcomes:
                yield self._outcomes.popleft()
                continue
            if not self._watches:
                return
            self._outcome_added.clear()
            await self._outcome_added.wait()

    def _schedule(self, job_id: str, when: float) -> None:
        heapq.heappush(self._due, (when, next(self._order), job_id))
        if self._due[0][2] == job_id:
            self._schedule_changed.set()

    def _finish(self, watch: _Watch[FineTuningJob], outcome: FineTuningJob | JobWaitError) -> None:
        del self._watches[watch.job_id]
        future = self._waiters.pop(watch.job_id, None)
        if future is not None and not future.done():
            if isinstance(outcome, JobWaitError):
                future.set_exception(outcome)
            else:
                future.set_result(outcome)
        else:
            self._outcomes.append((watch.job_id, outcome))
        self._outcome_added.set()

    async def _dispatch(self) -> None:
        """Hand each job to a worker when its poll is due (and no 429 pause is on)."""
        loop = asyncio.get_running_loop()
        while True:
            if not self._due:
                self._schedule_changed.clear()
                await self._schedule_changed.wait()
                continue
            delay = max(self._due[0][0], self._paused_until) - loop.time()
            if delay > 0:
                self._schedule_changed.clear()
                with anyio.move_on_after(delay):
                    await self._schedule_changed.wait()
                continue
            _, _, job_id = heapq.heappop(self._due)
            await self._ready.put(job_id)

    async def _work(self) -> None:
        while True:
            job_id = await self._ready.get()
            watch = self._watches.get(job_id)
            if watch is not None:
                await self._poll_watch(watch)

    async def _poll_watch(self, watch: _Watch[FineTuningJob]) -> None:
        loop = asyncio.get_running_loop()
        now = loop.time()
        if watch.deadline is not None and now >= watch.deadline:
            self._finish(watch, _timeout_error(watch, self._timeout))
            return
        remaining = None if watch.deadline is None else watch.deadline - now
        try:
            job = await _poll(self._session, watch, self._on_update, timeout=remaining)
        except Exception as error:
            wait = transient_wait(error, self._poll_interval)
            if wait is None:
                self._finish(
                    watch,
                    JobWaitError(
                        f"watching job {watch.job_id} failed: {error}",
                        job_id=watch.job_id,
                        job=watch.last,
                        error=error,
                    ),
                )
                return
            _log_transient(watch.job_id, error, wait)
            if isinstance(error, RateLimitError) and error.retry_after:
                self._paused_until = max(self._paused_until, loop.time() + error.retry_after)
        else:
            if job.is_terminal:
                self._finish(watch, job)
                return
            wait = next_poll_delay(self._poll_interval)
        next_poll = loop.time() + wait  # counted from the answer, not from the request
        if watch.deadline is not None:
            next_poll = min(next_poll, watch.deadline)
        self._schedule(watch.job_id, next_poll)


def _timeout_error(watch: _Watch[FinalT], timeout: float | None, kind: str = "job") -> WaitTimeout:
    """The WaitTimeout for a watch: the last job (or operation) seen rides on it."""
    last = watch.last
    status = last.status if last is not None else "never seen"
    return WaitTimeout(
        f"{kind} {watch.job_id} did not finish within {timeout:g} s (last status: {status})",
        job_id=watch.job_id,
        job=last if isinstance(last, FineTuningJob) else None,
        operation=last if isinstance(last, Operation) else None,
    )


async def as_completed(
    session: Endpoints,
    job_ids: Iterable[str],
    *,
    poll_interval: float = DEFAULT_POLL_INTERVAL,
    timeout: float | None = None,
    max_concurrent_polls: int = DEFAULT_MAX_CONCURRENT_POLLS,
    on_update: OnUpdate | None = None,
) -> AsyncIterator[FineTuningJob | JobWaitError]:
    """Yield each job as it reaches a final state; a job that cannot be watched yields a
    ``JobWaitError`` (``WaitTimeout`` on timeout) naming it, and the others go on.

    ::

        async for outcome in as_completed(session, job_ids, poll_interval=10):
            ...

    Built on ``JobMonitor``; use that directly to add jobs while watching.
    """
    options = (poll_interval, timeout, max_concurrent_polls, on_update)
    async for _, outcome in _watch_all(session, job_ids, *options):
        yield outcome


async def wait_for_jobs(
    session: Endpoints,
    job_ids: Iterable[str],
    *,
    poll_interval: float = DEFAULT_POLL_INTERVAL,
    timeout: float | None = None,
    max_concurrent_polls: int = DEFAULT_MAX_CONCURRENT_POLLS,
    on_update: OnUpdate | None = None,
) -> dict[str, FineTuningJob | JobWaitError]:
    """Wait for every job; returns each final job (or its ``JobWaitError``) keyed by id,
    in the order the ids were given."""
    ids = list(dict.fromkeys(job_ids))
    options = (poll_interval, timeout, max_concurrent_polls, on_update)
    outcomes = {job_id: outcome async for job_id, outcome in _watch_all(session, ids, *options)}
    return {job_id: outcomes[job_id] for job_id in ids}


async def _watch_all(
    session: Endpoints,
    job_ids: Iterable[str],
    poll_interval: float,
    timeout: float | None,
    max_concurrent_polls: int,
    on_update: OnUpdate | None,
) -> AsyncIterator[tuple[str, FineTuningJob | JobWaitError]]:
    """Every job's outcome, paired with its id, from one JobMonitor."""
    async with JobMonitor(
        session,
        poll_interval=poll_interval,
        timeout=timeout,
        max_concurrent_polls=max_concurrent_polls,
        on_update=on_update,
    ) as monitor:
        monitor.add(*job_ids)
        async for pair in monitor.outcomes_by_id():
            yield pair


async def follow_events(
    session: Endpoints,
    job_id: str,
    *,
    poll_interval: float = DEFAULT_POLL_INTERVAL,
    page_size: int = DEFAULT_PAGE_SIZE,
) -> AsyncIterator[FineTuningJobEvent]:
    """Yield a job's events as they appear, oldest first, each exactly once.

    Each round yields the events not seen before, sorted by ``created_at`` then ``id`` (the
    API promises no order). Ends once the job is final and its last events are drained.
    Transient failures are waited out like in ``wait_for_job``; permanent ones are raised.
    """
    seen: set[str] = set()
    tail: str | None = None
    while True:
        fresh: list[FineTuningJobEvent] = []
        try:
            job = await session.get_job(job_id)
            tail = await _collect_new_events(session, job_id, page_size, seen, tail, fresh)
        except APIError as error:
            wait = transient_wait(error, poll_interval)
            if wait is None:
                raise
            _log_transient(job_id, error, wait)
        else:
            wait = None if job.is_terminal else next_poll_delay(poll_interval)
        fresh.sort(key=lambda event: (event.created_at, event.id))
        for event in fresh:
            yield event
        if wait is None:
            return
        await anyio.sleep(wait)


async def _collect_new_events(
    session: Endpoints,
    job_id: str,
    page_size: int,
    seen: set[str],
    tail: str | None,
    fresh: list[FineTuningJobEvent],
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
        page = await session.list_events(job_id, limit=page_size, after=after)
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

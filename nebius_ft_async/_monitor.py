"""JobMonitor: many jobs watched by one scheduler, and the helpers built on it.

One dispatcher task keeps two heaps, the next poll of each job and each job's deadline, and
sleeps until the earlier of the two. A deadline ends its job at once whatever that job is
waiting on (its poll is cancelled). Polls run as tasks, at most ``max_concurrent_polls`` at
a time. A poll unanswered for ten times the usual answer time (at least 50 ms, at most 1 s)
is slow: it gives its slot back and goes on until its own poll timeout (at most as many slow
polls as the limit). A job whose poll timed out is polled in a lane of its own (a quarter of
the limit), less and less often (up to 8 intervals apart) while its polls keep timing out.
So jobs whose polls hang cannot starve the others. When enough
jobs are watched, a fleet refresh reads them from list pages (up to 100 jobs a request)
instead of one GET each; see ``_fleet``.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import math
from collections import deque
from collections.abc import AsyncIterator, Iterable
from types import TracebackType
from typing import Self

import anyio
import msgspec

from ._calls import PollingSession
from ._checks import positive_count
from ._errors import APITimeoutError, JobWaitError
from ._fleet import FLEET_MIN_JOBS, FleetWalk, walk_fleet
from ._models import FineTuningJob
from ._polling import (
    DEFAULT_POLL_INTERVAL,
    OnUpdate,
    WaitState,
    log_transient,
    next_poll_delay,
    poll_options,
    timeout_error,
    transient_wait,
    watched_state,
)
from ._urls import path_segment

DEFAULT_MAX_CONCURRENT_POLLS = 32
"""Polls in flight at once in a JobMonitor (not counting slow ones), however many jobs."""
SLOW_POLL_SECONDS = (0.05, 1.0)
"""A poll unanswered for ten times the usual answer time, within these bounds, is slow: it
stops counting against ``max_concurrent_polls``."""
MAX_TIMEOUT_BACKOFF = 8
"""A job whose polls keep timing out is polled at most this many intervals apart."""

Outcome = FineTuningJob | JobWaitError
_encode = msgspec.msgpack.Encoder().encode
_decode_job = msgspec.msgpack.Decoder(FineTuningJob).decode


class _Lane:
    """Polls waiting their turn (a heap of due times) and a limit on those in flight."""

    __slots__ = ("due", "in_flight", "limit")

    def __init__(self, limit: int) -> None:
        self.due: list[tuple[float, int, str]] = []
        self.in_flight = 0
        self.limit = limit


class _MonitorWatch(WaitState[FineTuningJob]):
    """A watched job, and where the monitor is with it.

    The last job seen is kept as MessagePack (about 1 KB, against 2.6 KB for the decoded
    Struct: it matters at 100,000 jobs) and decoded again only when an error reports it.
    """

    __slots__ = (
        "created_at",
        "due",
        "finished",
        "in_fleet",
        "lane",
        "last_encoded",
        "poll",
        "started",
        "timeouts",
    )

    def __init__(self, job_id: str, deadline: float | None) -> None:
        super().__init__("job", job_id, deadline)
        self.last_encoded: bytes | FineTuningJob | None = None
        self.created_at: int | None = None  # the last job's, kept apart: walks read it
        self.due: int | None = None  # order number of its live entry in the poll heap
        self.finished = False
        self.in_fleet = False  # refreshed by fleet walks rather than its own polls
        self.poll: asyncio.Task[None] | None = None
        self.lane: _Lane | None = None  # the lane whose slot its poll holds
        self.started = 0.0  # when its poll in flight started
        self.timeouts = 0  # polls in a row that timed out

    @property
    def last(self) -> FineTuningJob | None:
        kept = self.last_encoded
        return kept if not isinstance(kept, bytes) else _decode_job(kept)

    @last.setter
    def last(self, job: FineTuningJob | None) -> None:
        self.created_at = None if job is None else job.created_at
        try:
            self.last_encoded = None if job is None else _encode(job)
        except OverflowError:  # an int past 64 bits (decoding is lenient): keep the Struct
            self.last_encoded = job


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

    However many jobs it watches, it keeps one dispatcher task, at most
    ``max_concurrent_polls`` polls in flight (slow ones aside) and a small record per job;
    the first polls of a batch are spread over one poll interval. Jobs can be added at any
    time. ``await monitor.wait(job_id)`` waits for one job (agent tools that submit jobs over
    time can share one monitor); an outcome goes to that ``wait`` call, or else to iteration.

    Each job gets ``timeout`` seconds from when it was added and ends at that deadline with
    ``WaitTimeout`` (carrying the last job seen), whatever is in flight. A job's permanent
    error (a 404, say) or timeout is reported for that job alone, as a ``JobWaitError`` (or
    ``WaitTimeout``); the others go on. Every poll draws on the session's request budget, so
    a 429 slows the whole session down instead of freezing the monitor; a job whose poll is
    refused for longer than its poll interval is polled again when the server allows.

    With ``fleet_refresh`` (the default) and at least 10 jobs, the jobs are read from
    ``GET /v1/fine_tuning/jobs`` pages, newest first, once per poll interval, whenever that
    costs fewer requests; jobs the pages do not reach are polled one by one. Outcomes and
    ``on_update`` calls are the same either way.
    """

    def __init__(
        self,
        session: PollingSession,
        *,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        timeout: float | None = None,
        max_concurrent_polls: int = DEFAULT_MAX_CONCURRENT_POLLS,
        on_update: OnUpdate | None = None,
        poll_timeout: float | None = None,
        fleet_refresh: bool = True,
    ) -> None:
        self._options = poll_options(session, poll_interval, timeout, poll_timeout)
        self._concurrency = positive_count("max_concurrent_polls", max_concurrent_polls)
        self._session = session
        self._on_update = on_update
        self._answer_time: float | None = None  # moving average of poll answer times
        self._slow = 0  # slow polls in flight, out of their lane
        self._started: deque[tuple[float, _MonitorWatch]] = deque()  # regular polls, by start
        self._watches: dict[str, _MonitorWatch] = {}
        # jobs whose last poll timed out wait in a lane of their own, so they cannot hold
        # back the others
        self._regular = _Lane(self._concurrency)
        self._suspect = _Lane(max(1, self._concurrency // 4))
        self._lanes = (self._regular, self._suspect)
        self._deadlines: list[tuple[float, int, str]] = []
        self._order = itertools.count()
        self._outcomes: deque[tuple[str, Outcome]] = deque()
        self._waiters: dict[str, asyncio.Future[FineTuningJob]] = {}
        self._wake = asyncio.Event()
        self._outcome_added = asyncio.Event()
        self._dispatcher: asyncio.Task[None] | None = None
        self._fleet_enabled = fleet_refresh
        self._fleet_size = 0
        self._fleet_walk: asyncio.Task[None] | None = None
        self._next_walk = math.inf
        self._walk_page_cap: int | None = None  # pages past which the last walk found nothing
        self.fleet_walks = 0
        """How many fleet refreshes ran (for tests and curiosity)."""

    @property
    def watching(self) -> int:
        """How many jobs are being watched now."""
        return len(self._watches)

    async def __aenter__(self) -> Self:
        self._dispatcher = asyncio.create_task(self._dispatch())
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
        tasks = [w.poll for w in self._watches.values() if w.poll is not None]
        tasks += [t for t in (self._dispatcher, self._fleet_walk) if t is not None]
        for task in tasks:
            task.cancel()
        with anyio.CancelScope(shield=True):  # even when closed from a cancelled scope
            await asyncio.gather(*tasks, return_exceptions=True)
        self._dispatcher = self._fleet_walk = None

    def add(self, *job_ids: str) -> None:
        """Start watching these jobs (ids already watched are left as they are).

        An id that cannot name a job (empty, or ``.``/``..``) raises ``ValueError`` at once.
        """
        fresh = [job_id for job_id in dict.fromkeys(job_ids) if job_id not in self._watches]
        for job_id in fresh:
            path_segment(job_id, "job_id")
        if not fresh:
            return
        now = asyncio.get_running_loop().time()
        timeout = self._options.timeout
        deadline = None if timeout is None else now + timeout
        for job_id in fresh:
            watch = self._watches[job_id] = _MonitorWatch(job_id, deadline)
            if deadline is not None:
                heapq.heappush(self._deadlines, (deadline, next(self._order), job_id))
        if self._fleet_enabled and len(self._watches) >= FLEET_MIN_JOBS:
            for watch in self._watches.values():
                if not watch.in_fleet:
                    watch.in_fleet = True
                    watch.due = None  # its own polls stop: the walks cover it
                    self._fleet_size += 1
            self._next_walk = min(self._next_walk, now)
            self._walk_page_cap = None  # the new jobs may be anywhere in the list
        else:
            spread = self._options.interval
            if deadline is not None:
                spread = min(spread, deadline - now)
            for index, job_id in enumerate(fresh):
                self._schedule(self._watches[job_id], now + spread * index / len(fresh))
        self._wake.set()

    def discard(self, *job_ids: str) -> None:
        """Stop watching these jobs without an outcome (ids not watched are ignored); their
        polls in flight are cancelled and a ``wait()`` on one is cancelled."""
        for job_id in job_ids:
            watch = self._watches.pop(job_id, None)
            if watch is None:
                continue
            watch.finished = True  # the heaps and a fleet walk skip it from now on
            if watch.in_fleet:
                watch.in_fleet = False
                self._fleet_size -= 1
            if watch.poll is not None:
                watch.poll.cancel()
                self._release(watch)
            future = self._waiters.pop(job_id, None)
            if future is not None:
                future.cancel()
        self._outcome_added.set()  # an iteration left with nothing to watch ends

    async def wait(self, job_id: str) -> FineTuningJob:
        """Watch ``job_id`` (if not yet watched) and return it once final.

        Raises ``JobWaitError`` (or ``WaitTimeout``) if it cannot be watched to the end.
        """
        if self._dispatcher is None:
            raise RuntimeError("use the JobMonitor inside 'async with' before waiting")
        future = self._waiters.get(job_id)
        if future is None or future.done():
            future = self._waiters[job_id] = asyncio.get_running_loop().create_future()
            self.add(job_id)
        # shielded: one cancelled caller must not cancel the others waiting for the same job
        return await asyncio.shield(future)

    def __aiter__(self) -> AsyncIterator[Outcome]:
        return (outcome async for _, outcome in self.outcomes_by_id())

    async def outcomes_by_id(self) -> AsyncIterator[tuple[str, Outcome]]:
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

    # -- the scheduler ---------------------------------------------------------------

    def _schedule(self, watch: _MonitorWatch, when: float) -> None:
        lane = self._suspect if watch.timeouts else self._regular
        order = next(self._order)
        watch.due = order
        heapq.heappush(lane.due, (when, order, watch.job_id))
        if lane.due[0][1] == order:
            self._wake.set()

    def _finish(self, watch: _MonitorWatch, outcome: Outcome) -> None:
        if watch.finished:
            return
        watch.finished = True
        del self._watches[watch.job_id]
        if watch.in_fleet:
            watch.in_fleet = False
            self._fleet_size -= 1
        poll = watch.poll
        if poll is not None and poll is not asyncio.current_task():
            poll.cancel()
            self._release(watch)  # a task cancelled before its first step runs no finally
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
        """End jobs at their deadlines, start polls when due, start fleet walks."""
        loop = asyncio.get_running_loop()
        wake = self._wake
        timer: asyncio.TimerHandle | None = None
        timer_at = math.inf

        def ring() -> None:  # the timer forgets itself, even if it fires a little early
            nonlocal timer, timer_at
            timer, timer_at = None, math.inf
            wake.set()

        while True:
            now = loop.time()
            self._expire(now)
            self._start_due_polls(now)
            if self._fleet_walk is None and self._next_walk <= now:
                self._start_walk(now)
            wake_at = self._next_wake(now)
            wake.clear()
            if wake_at <= loop.time():
                continue
            if wake_at != timer_at:  # one timer, moved only when the next event moves
                if timer is not None:
                    timer.cancel()
                timer = None if wake_at == math.inf else loop.call_at(wake_at, ring)
                timer_at = wake_at
            await wake.wait()

    def _next_wake(self, now: float) -> float:
        wake_at = self._deadlines[0][0] if self._deadlines else math.inf
        for lane in self._lanes:
            if not lane.due:
                continue
            if lane.in_flight < lane.limit:
                wake_at = min(wake_at, lane.due[0][0])
            elif lane is self._regular and self._slow < self._concurrency:
                # a slot may free up when the oldest poll turns slow, if a job is due by then
                wake_at = min(wake_at, max(self._next_slow(now), lane.due[0][0]))
        if self._fleet_walk is None and self._fleet_size:
            wake_at = min(wake_at, self._next_walk)
        return wake_at

    def _expire(self, now: float) -> None:
        deadlines = self._deadlines
        while deadlines and deadlines[0][0] <= now:
            _, _, job_id = heapq.heappop(deadlines)
            watch = self._watches.get(job_id)
            if watch is not None and watch.deadline is not None and watch.deadline <= now:
                self._finish(watch, timeout_error(watch, self._options.timeout))

    def _start_due_polls(self, now: float) -> None:
        for lane in self._lanes:
            due = lane.due
            if lane is self._regular and due and due[0][0] <= now:
                self._turn_slow(now)
            while due and due[0][0] <= now and lane.in_flight < lane.limit:
                _, order, job_id = heapq.heappop(due)
                watch = self._watches.get(job_id)
                if watch is None or watch.due != order or watch.poll is not None:
                    continue  # finished, rescheduled since, or already being polled
                watch.due = None
                watch.lane = lane
                watch.started = now
                lane.in_flight += 1
                watch.poll = asyncio.create_task(self._poll_watch(watch, now))
                if lane is self._regular:
                    self._started.append((now, watch))

    def _slow_after(self) -> float:
        low, high = SLOW_POLL_SECONDS
        if self._answer_time is None:
            return high
        return min(max(10 * self._answer_time, low), high)

    def _oldest_regular_poll(self) -> tuple[float, _MonitorWatch] | None:
        """The earliest started poll still holding a regular slot (older entries dropped)."""
        started = self._started
        while started:
            when, watch = started[0]
            if watch.lane is self._regular and watch.started == when:
                return when, watch
            started.popleft()
        return None

    def _next_slow(self, now: float) -> float:
        oldest = self._oldest_regular_poll()
        return math.inf if oldest is None else oldest[0] + self._slow_after()

    def _turn_slow(self, now: float) -> None:
        """Polls that are taking long give their regular slots back, while slow ones are few.

        Only looked at when a regular slot is wanted, so a fast poll costs no timer."""
        slow_after = self._slow_after()
        while self._regular.in_flight >= self._regular.limit and self._slow < self._concurrency:
            oldest = self._oldest_regular_poll()
            if oldest is None or now - oldest[0] < slow_after:
                return
            watch = oldest[1]
            self._started.popleft()
            self._regular.in_flight -= 1
            watch.lane = None
            self._slow += 1

    def _release(self, watch: _MonitorWatch) -> None:
        """The poll in flight ended (or was cancelled, maybe before it ever ran): give back
        what it held, once."""
        if watch.poll is None:
            return
        watch.poll = None
        begun = self._started
        if begun and begun[0][1] is watch:  # polls mostly end in the order they began
            begun.popleft()
        lane = watch.lane
        if lane is not None:
            lane.in_flight -= 1
            watch.lane = None
            if lane.in_flight == lane.limit - 1 and lane.due:
                self._wake.set()  # a full lane has room again
        else:
            self._slow -= 1
            if self._regular.due:
                self._wake.set()

    async def _poll_watch(self, watch: _MonitorWatch, started: float) -> None:
        """Poll one job (the task holding a slot); its next poll is counted from the answer."""
        options = self._options
        loop = asyncio.get_running_loop()
        try:
            try:
                job = await self._session.get_job(watch.job_id, timeout=options.poll_timeout)
                self._note_answer_time(loop.time() - started)
                watch.timeouts = 0
                on_update = self._on_update
                if watch.remember(job, watched_state(job)) and on_update is not None:
                    await watch.tell(on_update, job)
            except Exception as error:
                wait = transient_wait(error, options.interval)
                if wait is None:
                    self._fail(watch, error)
                    return
                if isinstance(error, APITimeoutError):
                    watch.timeouts += 1
                    wait *= min(2 ** (watch.timeouts - 1), MAX_TIMEOUT_BACKOFF)
                log_transient(watch.job_id, error, wait)
            else:
                if job.is_terminal:
                    self._finish(watch, job)
                    return
                wait = next_poll_delay(options.interval)
            if not watch.finished and not watch.in_fleet:  # a fleet job waits for the next walk
                self._schedule(watch, loop.time() + wait)
        finally:
            self._release(watch)

    def _note_answer_time(self, seconds: float) -> None:
        average = self._answer_time
        self._answer_time = seconds if average is None else 0.9 * average + 0.1 * seconds

    def _fail(self, watch: _MonitorWatch, error: Exception) -> None:
        if isinstance(error, JobWaitError):  # on_update raised: already says so
            self._finish(watch, error)
            return
        self._finish(
            watch,
            JobWaitError(
                f"watching job {watch.job_id} failed: {error}",
                kind="job",
                object_id=watch.job_id,
                last=watch.last,
                error=error,
            ),
        )

    # -- fleet refresh ---------------------------------------------------------------

    def _start_walk(self, now: float) -> None:
        fleet = {w.job_id: w for w in self._watches.values() if w.in_fleet}
        if len(fleet) < FLEET_MIN_JOBS:  # too few left for pages to pay: poll them one by one
            self._leave_fleet(fleet.values(), now)
            return
        self._fleet_walk = asyncio.create_task(self._walk(fleet, now))

    def _leave_fleet(self, watches: Iterable[_MonitorWatch], now: float) -> None:
        leaving = [w for w in watches if w.in_fleet]
        for index, watch in enumerate(leaving):
            watch.in_fleet = False
            if watch.poll is None:
                self._schedule(watch, now + self._options.interval * index / len(leaving))
        self._fleet_size -= len(leaving)
        self._next_walk = math.inf

    async def _walk(self, fleet: dict[str, _MonitorWatch], started: float) -> None:
        loop = asyncio.get_running_loop()
        wanted = {job_id: watch.created_at for job_id, watch in fleet.items()}

        async def sighted(job_id: str, job: FineTuningJob) -> None:
            watch = fleet[job_id]
            if watch.finished:
                return
            try:
                await watch.record(job, watched_state(job), self._on_update)
            except Exception as error:
                self._fail(watch, error)
                return
            if job.is_terminal:
                self._finish(watch, job)

        try:
            walk: FleetWalk = await walk_fleet(
                self._session,
                wanted,
                sighted,
                self._options.poll_timeout,
                self._walk_page_cap,
            )
        finally:
            self.fleet_walks += 1
            self._fleet_walk = None
            self._next_walk = max(started + next_poll_delay(self._options.interval), loop.time())
            self._wake.set()
        now = loop.time()
        # jobs the pages did not reach stay out of reach: later walks stop one page later
        self._walk_page_cap = walk.useful_pages + 1 if walk.unseen else None
        if not walk.newest_first or walk.list_refused:
            self._fleet_enabled = False
            self._leave_fleet(self._watches.values(), now)  # also jobs added meanwhile
        # not on the pages walked: one poll each, spread over an interval as a batch of new
        # jobs is (a burst of them at once would meet a server's burst limit)
        unseen = [
            watch
            for watch in map(fleet.__getitem__, walk.unseen)
            if not watch.finished and watch.poll is None and watch.in_fleet
        ]
        for index, watch in enumerate(unseen):
            self._schedule(watch, now + self._options.interval * index / len(unseen))


async def as_completed(
    session: PollingSession,
    job_ids: Iterable[str],
    *,
    poll_interval: float = DEFAULT_POLL_INTERVAL,
    timeout: float | None = None,
    max_concurrent_polls: int = DEFAULT_MAX_CONCURRENT_POLLS,
    on_update: OnUpdate | None = None,
    poll_timeout: float | None = None,
    fleet_refresh: bool = True,
) -> AsyncIterator[Outcome]:
    """Yield each job as it reaches a final state; a job that cannot be watched yields a
    ``JobWaitError`` (``WaitTimeout`` on timeout) naming it, and the others go on.

    ::

        async for outcome in as_completed(session, job_ids, poll_interval=10):
            ...

    Built on ``JobMonitor`` (the same options); use that directly to add jobs while watching.
    """
    options = (poll_interval, timeout, max_concurrent_polls, on_update, poll_timeout)
    async for _, outcome in _watch_all(session, job_ids, *options, fleet_refresh):
        yield outcome


async def wait_for_jobs(
    session: PollingSession,
    job_ids: Iterable[str],
    *,
    poll_interval: float = DEFAULT_POLL_INTERVAL,
    timeout: float | None = None,
    max_concurrent_polls: int = DEFAULT_MAX_CONCURRENT_POLLS,
    on_update: OnUpdate | None = None,
    poll_timeout: float | None = None,
    fleet_refresh: bool = True,
) -> dict[str, Outcome]:
    """Wait for every job; returns each final job (or its ``JobWaitError``) keyed by id,
    in the order the ids were given."""
    ids = list(dict.fromkeys(job_ids))
    options = (poll_interval, timeout, max_concurrent_polls, on_update, poll_timeout)
    outcomes = {
        job_id: outcome
        async for job_id, outcome in _watch_all(session, ids, *options, fleet_refresh)
    }
    return {job_id: outcomes[job_id] for job_id in ids}


async def _watch_all(
    session: PollingSession,
    job_ids: Iterable[str],
    poll_interval: float,
    timeout: float | None,
    max_concurrent_polls: int,
    on_update: OnUpdate | None,
    poll_timeout: float | None,
    fleet_refresh: bool,
) -> AsyncIterator[tuple[str, Outcome]]:
    """Every job's outcome, paired with its id, from one JobMonitor."""
    monitor = JobMonitor(
        session,
        poll_interval=poll_interval,
        timeout=timeout,
        max_concurrent_polls=max_concurrent_polls,
        on_update=on_update,
        poll_timeout=poll_timeout,
        fleet_refresh=fleet_refresh,
    )
    async with monitor:
        monitor.add(*job_ids)
        async for pair in monitor.outcomes_by_id():
            yield pair

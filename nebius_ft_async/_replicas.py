"""ReplicaMonitor: replicas split the watched jobs through Redis, and publish each outcome once.

Redis keys, under ``prefix:{name}``:

- ``:owners``, a hash: every job being watched -> the replica holding it (``""``: nobody).
- ``:replicas``, a sorted set: each live replica, scored by when its lease ends. A replica
  renews it every third of ``lease``; one that stops renewing (dead, or cut off from Redis)
  is dropped when it ends, and the jobs it held are free to be claimed: so a job's lease is
  its holder's, renewed for all its jobs at once in one call.
- ``:epoch``: a random value set when the keys are first made; a replica that finds it
  changed knows Redis lost its data (restarted without persistence) and registers its jobs
  again.
- ``:finished``, a stream: one entry per job that reached its end, written by the holder in
  the same script that removes the job from ``:owners``, so each outcome is written once.

Each replica watches the jobs it holds with a ``JobMonitor`` of its own. Every round it
renews its lease, claims free jobs up to its fair share (``ceil(jobs / live replicas)``),
gives back what it holds beyond that when more replicas are live than at its last round (it
stops polling them first: so a replica that joins gets its share), and drops jobs another
replica holds (it was taken for dead). While Redis cannot be reached it goes on with the
jobs it has, keeping their outcomes until Redis is back; then, since no lease could be renewed
meanwhile, it takes over no other replica's jobs for one lease, the time they have to come
back.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self

import msgspec
from redis.asyncio import Redis
from redis.exceptions import RedisError, ResponseError

from ._calls import PollingSession
from ._checks import positive_count, positive_seconds
from ._errors import JobWaitError, NebiusError
from ._models import FineTuningJob
from ._monitor import DEFAULT_MAX_CONCURRENT_POLLS, JobMonitor, Outcome
from ._polling import DEFAULT_POLL_INTERVAL, OnUpdate
from ._redis_link import (
    DEFAULT_PREFIX,
    DEFAULT_REDIS_TIMEOUT,
    REDIS_DOWN,
    RedisLink,
    key_base,
    log,
)
from ._urls import path_segment

DEFAULT_LEASE = 30.0
"""Seconds a replica's hold on its jobs lasts unless renewed (it renews every third)."""
DEFAULT_STREAM_LENGTH = 100_000
"""About how many outcomes the ``:finished`` stream keeps (older ones are trimmed)."""

_NOW = """
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
"""

# KEYS: owners, replicas, epoch. ARGV: me, lease ms, most jobs to hold (0: no cap), 1 to
# take over jobs of ended replicas too (else only jobs nobody holds).
# Renews my lease, drops ended replicas, claims free jobs up to my share.
# Returns {epoch or false, jobs I hold, my share, live replicas, claimed job ids...}.
_CLAIM = (
    _NOW
    + """
local now = now_ms()
local me, lease, cap = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local take_over = ARGV[4] == '1'
redis.call('ZADD', KEYS[2], now + lease, me)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
local live = redis.call('ZCARD', KEYS[2])
local owners = redis.call('HGETALL', KEYS[1])
local share = math.ceil((#owners / 2) / live)
if cap > 0 and share > cap then share = cap end
local alive, mine, free = {}, 0, {}
for i = 1, #owners, 2 do
  local owner = owners[i + 1]
  if owner == me then
    mine = mine + 1
  elseif owner ~= '' and alive[owner] == nil then
    alive[owner] = redis.call('ZSCORE', KEYS[2], owner) ~= false
  end
  if owner == '' or (take_over and owner ~= me and not alive[owner]) then
    free[#free + 1] = owners[i]
  end
end
local result = {redis.call('GET', KEYS[3]), 0, share, live}
for _, job in ipairs(free) do
  if mine >= share then break end
  redis.call('HSET', KEYS[1], job, me)
  mine = mine + 1
  result[#result + 1] = job
end
result[2] = mine
return result
"""
)

# KEYS: owners, replicas, epoch. ARGV: me, lease ms, the epoch I knew ('' if none), a new
# epoch to set if there is none, then the jobs I watch. Keeps those I still hold or can hold
# again: free, held by an ended replica, or (after Redis lost its data) unknown.
# Returns {epoch, jobs kept...}.
_REJOIN = (
    _NOW
    + """
local now = now_ms()
local me, lease = ARGV[1], tonumber(ARGV[2])
redis.call('ZADD', KEYS[2], now + lease, me)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
local epoch = redis.call('GET', KEYS[3])
if not epoch then
  epoch = ARGV[4]
  redis.call('SET', KEYS[3], epoch)
end
local lost_data = epoch ~= ARGV[3]
local result = {epoch}
for i = 5, #ARGV do
  local job = ARGV[i]
  local owner = redis.call('HGET', KEYS[1], job)
  local keep = owner == me or owner == ''
    or (owner == false and lost_data)
    or (owner ~= false and not redis.call('ZSCORE', KEYS[2], owner))
  if keep then
    redis.call('HSET', KEYS[1], job, me)
    result[#result + 1] = job
  end
end
return result
"""
)

# KEYS: owners. ARGV: the jobs. Registers jobs not yet watched, free to be claimed.
_ADD = """
local added = 0
for i = 1, #ARGV do
  added = added + redis.call('HSETNX', KEYS[1], ARGV[i], '')
end
return added
"""

# KEYS: owners. ARGV: me. Returns the jobs I hold.
_MINE = """
local owners = redis.call('HGETALL', KEYS[1])
local mine = {}
for i = 1, #owners, 2 do
  if owners[i + 1] == ARGV[1] then mine[#mine + 1] = owners[i] end
end
return mine
"""

# KEYS: owners, replicas. ARGV: me, 1 to leave the replicas too, then the jobs to free.
_RELEASE = """
for i = 3, #ARGV do
  if redis.call('HGET', KEYS[1], ARGV[i]) == ARGV[1] then
    redis.call('HSET', KEYS[1], ARGV[i], '')
  end
end
if ARGV[2] == '1' then redis.call('ZREM', KEYS[2], ARGV[1]) end
return 0
"""

# KEYS: owners, stream. ARGV: me, job, stream length, then the entry's fields and values.
# Writes the outcome only if I hold the job; returns 1 if written.
_FINISH = """
if redis.call('HGET', KEYS[1], ARGV[2]) ~= ARGV[1] then return 0 end
redis.call('HDEL', KEYS[1], ARGV[2])
local entry = {}
for i = 4, #ARGV do entry[#entry + 1] = ARGV[i] end
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[3], '*', unpack(entry))
return 1
"""

_encode_job = msgspec.json.Encoder().encode
_decode_job = msgspec.json.Decoder(FineTuningJob).decode


@dataclass(frozen=True)
class JobFinished:
    """One entry of the ``:finished`` stream: a job that reached its end.

    ``status`` is the job's final status (``succeeded``, ``failed``, ``cancelled``), or
    ``error`` when it could not be watched to the end (then ``error`` says why: a 404, a
    timeout, ...). ``job`` is the last job seen, when there is one. ``entry_id`` is the
    stream entry's id.
    """

    entry_id: str
    job_id: str
    status: str
    job: FineTuningJob | None
    error: str | None
    replica: str


def _entry_fields(job_id: str, outcome: Outcome, replica: str) -> list[str | bytes]:
    if isinstance(outcome, JobWaitError):
        status, error, job = "error", str(outcome), outcome.job
    else:
        status, error, job = str(outcome.status), "", outcome
    return [
        "job_id",
        job_id,
        "status",
        status,
        "error",
        error,
        "job",
        b"" if job is None else _encode_job(job),
        "replica",
        replica,
    ]


def _entry(entry_id: bytes, fields: dict[bytes, bytes]) -> JobFinished:
    raw_job = fields.get(b"job", b"")
    try:
        job = _decode_job(raw_job) if raw_job else None
    except msgspec.DecodeError:
        job = None
    error = fields.get(b"error", b"").decode()
    return JobFinished(
        entry_id=entry_id.decode(),
        job_id=fields.get(b"job_id", b"").decode(),
        status=fields.get(b"status", b"").decode(),
        job=job,
        error=error or None,
        replica=fields.get(b"replica", b"").decode(),
    )


class ReplicaMonitor:
    """Watches jobs together with the other replicas that use the same ``name`` (and Redis):
    each job is polled by one live replica, and its outcome is published once to a Redis
    stream.

    ::

        from redis.asyncio import Redis
        from nebius_ft_async.redis import RedisBudget, ReplicaMonitor, read_finished

        redis = Redis()
        budget = RedisBudget(redis, name="team-key", rate=20)
        async with (
            AsyncSession(budget=budget) as session,
            ReplicaMonitor(session, redis, name="team-jobs") as monitor,
        ):
            await monitor.add("ftjob-a", "ftjob-b")      # any replica, or another program
            async for finished in read_finished(redis, name="team-jobs", group="notify"):
                print(finished.job_id, finished.status)

    Every third of ``lease`` seconds a replica renews its hold on its jobs, claims free
    ones (jobs added wait for that) up to its fair share and, when a replica joined, gives
    back those beyond it; a replica that stops (killed, or cut off from Redis) loses its
    jobs when its lease ends, and the others take them over within one ``lease``.
    ``close`` (leaving ``async with``) gives its jobs back at once. ``max_jobs`` caps how
    many jobs this replica holds.

    Each replica polls its jobs with a ``JobMonitor`` (``poll_interval``, ``timeout``,
    ``max_concurrent_polls``, ``on_update``, ``poll_timeout``, ``fleet_refresh`` are
    passed to it; ``timeout`` counts from when this replica took the job). With
    ``fleet_refresh`` each replica reads list pages for its own jobs, so replicas may read
    the same pages.

    If Redis cannot be reached within ``redis_timeout`` seconds, the replica goes on
    watching the jobs it holds (and jobs added meanwhile), keeps their outcomes, and when
    Redis is back renews its hold on those no other replica took meanwhile, then publishes
    what it kept. If Redis lost its data (restarted without persistence), the replicas
    register their jobs again; outcomes written before that, and jobs that no replica held
    yet, are lost with it (run Redis with ``appendonly yes`` to keep them).
    """

    def __init__(
        self,
        session: PollingSession,
        redis: Redis,
        *,
        name: str = "default",
        prefix: str = DEFAULT_PREFIX,
        lease: float = DEFAULT_LEASE,
        replica_id: str | None = None,
        max_jobs: int | None = None,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        timeout: float | None = None,
        max_concurrent_polls: int = DEFAULT_MAX_CONCURRENT_POLLS,
        on_update: OnUpdate | None = None,
        poll_timeout: float | None = None,
        fleet_refresh: bool = True,
        redis_timeout: float = DEFAULT_REDIS_TIMEOUT,
        stream_length: int = DEFAULT_STREAM_LENGTH,
    ) -> None:
        self.lease = positive_seconds("lease", lease)
        self._max_jobs = 0 if max_jobs is None else positive_count("max_jobs", max_jobs)
        self._stream_length = positive_count("stream_length", stream_length)
        if replica_id is not None and (not isinstance(replica_id, str) or not replica_id):
            raise ValueError(f"replica_id must be a non-empty string, got {replica_id!r}")
        self.replica_id = replica_id or secrets.token_hex(8)
        """This replica's name in Redis (random unless given; two replicas must not share
        one)."""
        base = key_base(prefix, name)
        self._owners, self._replicas = f"{base}:owners", f"{base}:replicas"
        self._epoch_key, self.stream = f"{base}:epoch", f"{base}:finished"
        self._redis = redis
        self._monitor = JobMonitor(
            session,
            poll_interval=poll_interval,
            timeout=timeout,
            max_concurrent_polls=max_concurrent_polls,
            on_update=on_update,
            poll_timeout=poll_timeout,
            fleet_refresh=fleet_refresh,
        )
        self._link = RedisLink("job monitor", redis_timeout, self.lease / 3)
        self._claim = redis.register_script(_CLAIM)
        self._rejoin_script = redis.register_script(_REJOIN)
        self._add = redis.register_script(_ADD)
        self._mine = redis.register_script(_MINE)
        self._release = redis.register_script(_RELEASE)
        self._finish = redis.register_script(_FINISH)
        self._held: set[str] = set()  # jobs this replica holds and watches
        self._unregistered: set[str] = set()  # added while Redis was away
        self._kept: dict[str, Outcome] = {}  # outcomes not yet published
        self._epoch: str | None = None
        self._joined = False  # False until the first round, and after Redis was away
        self._live = 0  # live replicas at the last round
        # after Redis was away every lease ended: others get one lease to come back first
        self._take_over_from = 0.0
        self._round_now = asyncio.Event()
        self._jobs_added = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._closing = False
        self.published = 0
        """How many outcomes this replica wrote to the stream."""

    @property
    def watching(self) -> int:
        """How many jobs this replica polls now."""
        return self._monitor.watching

    @property
    def shared(self) -> bool:
        """False while Redis cannot be reached (the replica goes on with its own jobs)."""
        return not self._link.down

    async def __aenter__(self) -> Self:
        await self._monitor.__aenter__()
        self._tasks = [
            asyncio.create_task(self._rounds()),
            asyncio.create_task(self._pump()),
        ]
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop watching, publish the outcomes kept while Redis was away, and give this
        replica's jobs back so others take them at once."""
        self._closing = True
        pending = set(self._tasks)
        while pending:
            # cancelled again until they end: redis-py may turn a cancellation that lands
            # in a call into a connection error, which the loops take for Redis being away
            for task in pending:
                task.cancel()
            _, pending = await asyncio.wait(pending, timeout=self._link.timeout)
        self._tasks = []
        await self._monitor.aclose()
        held = sorted(self._held)
        self._held.clear()
        with contextlib.suppress(*REDIS_DOWN):  # else its lease ends by itself
            if self._joined:
                await self._publish_kept()
            await self._link.call(
                self._release(keys=[self._owners, self._replicas], args=[self.replica_id, 1, *held])
            )

    async def add(self, *job_ids: str) -> None:
        """Register jobs to be watched by one of the replicas (ids already watched are left
        as they are). While Redis cannot be reached, this replica watches them itself.

        An id that is not a non-empty string raises ``ValueError`` at once.
        """
        for job_id in job_ids:
            path_segment(job_id, "job_id")
        if not job_ids:
            return
        if self._link.usable():
            try:
                await self._link.call(self._add(keys=[self._owners], args=list(job_ids)))
            except REDIS_DOWN:
                self._joined = False
            else:
                self._round_now.set()
                return
        fresh = [job_id for job_id in job_ids if job_id not in self._held]
        self._unregistered.update(fresh)
        self._watch(fresh)

    def _watch(self, job_ids: Iterable[str]) -> None:
        fresh = [job_id for job_id in job_ids if job_id not in self._held]
        if fresh:
            self._held.update(fresh)
            self._monitor.add(*fresh)
            self._jobs_added.set()

    def _drop(self, job_ids: Iterable[str]) -> None:
        gone = [job_id for job_id in job_ids if job_id in self._held]
        self._held.difference_update(gone)
        self._unregistered.difference_update(gone)
        self._monitor.discard(*gone)

    # -- rounds ----------------------------------------------------------------------

    async def _rounds(self) -> None:
        while not self._closing:
            try:
                await self._round()
            except REDIS_DOWN:
                _stop_if_cancelled()
                self._joined = False  # the link logged it; rejoin when Redis answers
            except RedisError as error:  # a refused command: said, and tried again
                _stop_if_cancelled()
                log.error("job monitor round failed in Redis: %s", error)
            self._round_now.clear()
            try:
                async with asyncio.timeout(self.lease / 3):
                    await self._round_now.wait()
            except TimeoutError:
                _stop_if_cancelled()  # cancelled as the wait ran out: taken as a timeout

    async def _round(self) -> None:
        if not self._joined:
            await self._rejoin()
        claim = self._claim(
            keys=[self._owners, self._replicas, self._epoch_key],
            args=[
                self.replica_id,
                int(self.lease * 1000),
                self._max_jobs,
                int(asyncio.get_running_loop().time() >= self._take_over_from),
            ],
        )
        answer = await self._link.call(claim)
        epoch = answer[0].decode() if answer[0] else None
        if epoch != self._epoch:  # Redis lost its data since the last round
            await self._rejoin()
            return
        held, share, live = int(answer[1]), int(answer[2]), int(answer[3])
        self._watch(job.decode() for job in answer[4:])
        if held != len(self._held) + len(self._kept):
            # taken over (this replica was taken for dead), or held under this replica's
            # name by an earlier run of it
            answer = await self._link.call(self._mine(keys=[self._owners], args=[self.replica_id]))
            mine = {job.decode() for job in answer}
            self._drop(self._held - mine)
            self._watch(mine - self._kept.keys())
        joined, self._live = live > self._live, live
        if joined and len(self._held) > share:  # a replica joined: make room for it
            excess = sorted(self._held)[share:]
            self._drop(excess)  # polling stops before another replica can claim them
            await self._link.call(
                self._release(
                    keys=[self._owners, self._replicas], args=[self.replica_id, 0, *excess]
                )
            )
        await self._publish_kept()

    async def _rejoin(self) -> None:
        """Register jobs added while Redis was away, and hold again what can be held."""
        if self._unregistered:
            await self._link.call(self._add(keys=[self._owners], args=sorted(self._unregistered)))
        watched = sorted(self._held | self._kept.keys())
        answer = await self._link.call(
            self._rejoin_script(
                keys=[self._owners, self._replicas, self._epoch_key],
                args=[
                    self.replica_id,
                    int(self.lease * 1000),
                    self._epoch or "",
                    secrets.token_hex(8),
                    *watched,
                ],
            )
        )
        if self._epoch is not None:
            self._take_over_from = asyncio.get_running_loop().time() + self.lease
        self._epoch = answer[0].decode()
        kept = {job.decode() for job in answer[1:]}
        self._unregistered.clear()
        self._drop(self._held - kept)
        for job_id in self._kept.keys() - kept:
            del self._kept[job_id]  # another replica holds it, or it was published
        self._joined = True

    # -- outcomes --------------------------------------------------------------------

    async def _pump(self) -> None:
        """Take each outcome from the local monitor and publish it (or keep it)."""
        while not self._closing:
            async for job_id, outcome in self._monitor.outcomes_by_id():
                if job_id not in self._held:
                    continue  # dropped meanwhile
                self._held.discard(job_id)
                self._kept[job_id] = outcome
                if self._joined and job_id not in self._unregistered and self._link.usable():
                    try:
                        await self._publish(job_id)
                    except REDIS_DOWN:
                        _stop_if_cancelled()
                        self._joined = False  # kept until Redis is back
            self._jobs_added.clear()
            if not self._monitor.watching:
                await self._jobs_added.wait()

    async def _publish(self, job_id: str) -> None:
        fields = _entry_fields(job_id, self._kept[job_id], self.replica_id)
        await self._link.call(
            self._finish(
                keys=[self._owners, self.stream],
                args=[self.replica_id, job_id, self._stream_length, *fields],
            )
        )
        # not written (another replica holds it) or written: either way not ours to keep
        if self._kept.pop(job_id, None) is not None:
            self.published += 1

    async def _publish_kept(self) -> None:
        for job_id in list(self._kept):
            await self._publish(job_id)


def _stop_if_cancelled() -> None:
    """Raise ``CancelledError`` if this task was cancelled and the cancellation came back as
    another error (a timeout running out at the same moment, or a Redis error)."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


async def register_jobs(
    redis: Redis, job_ids: Iterable[str], *, name: str = "default", prefix: str = DEFAULT_PREFIX
) -> int:
    """Register jobs for the replicas named ``name`` to watch, from any program; returns how
    many were not registered yet. Redis errors are raised as they are.

    An id that is not a non-empty string raises ``ValueError`` at once.
    """
    ids = list(job_ids)
    for job_id in ids:
        path_segment(job_id, "job_id")
    if not ids:
        return 0
    owners = key_base(prefix, name) + ":owners"
    return int(await redis.register_script(_ADD)(keys=[owners], args=ids))


async def read_finished(
    redis: Redis,
    *,
    group: str,
    consumer: str = "consumer",
    name: str = "default",
    prefix: str = DEFAULT_PREFIX,
    block: float = 1.0,
    count: int = 100,
    retry_every: float = 1.0,
) -> AsyncIterator[JobFinished]:
    """Yield each job that finished, once per consumer ``group``: the consumers of a group
    share the entries, each entry going to one of them.

    ::

        async for finished in read_finished(redis, name="team-jobs", group="notify"):
            print(finished.job_id, finished.status)

    The group is made if missing (reading the stream from its start). An entry is
    acknowledged when the loop asks for the next one, so an entry whose handling was cut
    short (the consumer died) is given again to a consumer of the same name when it starts
    again. While Redis cannot be reached it is tried again every ``retry_every`` seconds
    (logged once). Runs until the loop stops.
    """
    base = key_base(prefix, name)
    stream = f"{base}:finished"
    block_ms = max(1, int(positive_seconds("block", block) * 1000))
    count = positive_count("count", count)
    link = RedisLink("stream reader", block + DEFAULT_REDIS_TIMEOUT, retry_every)
    backlog = True  # first the entries given to this consumer and never acknowledged
    made_group = False
    while True:
        try:
            if not made_group:
                await _make_group(link, redis, stream, group)
                made_group = True
            answer: Any = await link.call(
                redis.xreadgroup(
                    group,
                    consumer,
                    {stream: "0" if backlog else ">"},
                    count=count,
                    block=None if backlog else block_ms,
                )
            )
        except REDIS_DOWN:
            await asyncio.sleep(retry_every)
            continue
        except ResponseError as error:
            if "NOGROUP" not in str(error):
                raise NebiusError(f"reading {stream} failed in Redis: {error}") from None
            made_group = False  # Redis lost its data: the group is made again
            continue
        entries = answer[0][1] if answer else []
        if backlog and not entries:
            backlog = False
        for entry_id, fields in entries:
            yield _entry(entry_id, fields)
            try:
                await link.call(redis.xack(stream, group, entry_id))
            except REDIS_DOWN:
                backlog = True  # not acknowledged: read again from the pending entries


async def _make_group(link: RedisLink, redis: Redis, stream: str, group: str) -> None:
    try:
        await link.call(redis.xgroup_create(stream, group, id="0", mkstream=True))
    except ResponseError as error:
        if "BUSYGROUP" not in str(error):
            raise NebiusError(f"making group {group!r} of {stream} failed: {error}") from None

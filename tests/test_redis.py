"""The Redis extra against a real redis-server started here, and replicas in real processes.

Run as a script (``python tests/test_redis.py REDIS_URL BASE_URL API_KEY NAME``), this file is
one replica: a ``ReplicaMonitor`` over a ``RedisBudget``, watching until it is killed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from aiohttp import web
from redis import Redis as SyncRedis
from redis.asyncio import Redis

from nebius_ft_async import AdaptiveBudget, AsyncSession, JobMonitor, RateLimitError
from nebius_ft_async.redis import (
    JobFinished,
    RedisBudget,
    ReplicaMonitor,
    read_finished,
    register_jobs,
)
from nebius_ft_async.testing import FakeTokenFactory

pytestmark = pytest.mark.anyio

BUDGET_RATE = 40.0  # what the replicas share, below the fake's limit
SERVER_RATE = 50.0


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class RedisServer:
    """A redis-server of our own on a free loopback port; ``kill`` and ``start`` again keep
    the port (and, with ``appendonly``, the data)."""

    def __init__(self, directory: Path, *, appendonly: bool = False) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.fail(
                "redis-server is not installed: the Redis tests need it "
                "(apt-get install redis-server; .ci/run installs it)"
            )
        self.binary = binary
        self.directory = directory
        self.appendonly = appendonly
        self.port = _free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "yes" if self.appendonly else "no",
                "--appendfsync",
                "always",
                "--dir",
                str(self.directory),
            ],
            stdout=subprocess.DEVNULL,
        )
        client = SyncRedis(port=self.port, socket_timeout=1)
        for _ in range(200):
            with contextlib.suppress(Exception):
                if client.ping():
                    client.close()
                    return
            if self.process.poll() is not None:
                break
            time.sleep(0.05)
        client.close()
        pytest.fail(f"redis-server did not start on port {self.port}")

    def kill(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.kill()


@pytest.fixture
def durable_redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path, appendonly=True)
    server.start()
    yield server
    server.kill()


@pytest.fixture
async def redis(redis_server: RedisServer) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_server.url)
    yield client
    await client.aclose()


class AttributingFake(FakeTokenFactory):
    """The fake, listening on 127.0.0.1 to 127.0.0.N: replica k reaches it at 127.0.0.k, so
    each job poll is known by which replica sent it (the fake itself does not say)."""

    def __init__(self, replicas: int, **options: Any) -> None:
        super().__init__(**options)
        self.replicas = replicas
        self.polls: list[tuple[str, str]] = []  # (job id, address the replica used)

    async def start(self) -> None:
        await super().start()
        runner = self._runner
        assert runner is not None
        port = int(self.url.rsplit(":", 1)[1])
        for k in range(2, self.replicas + 1):
            await web.TCPSite(runner, f"127.0.0.{k}", port).start()

    def url_for(self, replica: int) -> str:
        return self.url.replace("127.0.0.1", f"127.0.0.{replica + 1}")

    async def _get_job(self, request: web.Request) -> web.Response:
        address = request.transport.get_extra_info("sockname")[0] if request.transport else ""
        self.polls.append((request.match_info["job_id"], address))
        return await super()._get_job(request)


async def wait_until(condition: Callable[[], bool], within: float) -> None:
    """Poll a condition that has no event to wait on, for a bounded time."""
    with anyio.move_on_after(within):
        while not condition():  # noqa: ASYNC110
            await asyncio.sleep(0.02)


def never_polled_by_two(polls: list[tuple[str, str]]) -> dict[str, list[str]]:
    """Each job's pollers in order, checking that none polls it again after another did."""
    pollers: dict[str, list[str]] = {}
    for job_id, address in polls:
        seen = pollers.setdefault(job_id, [])
        if not seen or seen[-1] != address:
            assert address not in seen, f"{job_id} polled by {[*seen, address]}"
            seen.append(address)
    return pollers


async def collect(redis: Redis, name: str, count: int, group: str = "test") -> list[JobFinished]:
    """The next ``count`` entries; the last entry a previous call took is given again (it was
    not acknowledged: that call left the loop) and skipped here by its entry id."""
    finished: list[JobFinished] = []
    with anyio.fail_after(60):  # a test that misses an outcome fails instead of hanging
        async for entry in read_finished(redis, name=name, group=group, block=0.1):
            if entry.entry_id in _taken:
                continue
            _taken.add(entry.entry_id)
            finished.append(entry)
            if len(finished) == count:
                break
    return finished


_taken: set[str] = set()


# -- the budget --------------------------------------------------------------------------


async def test_processes_sharing_a_budget_stay_within_the_key_rate(redis_server: RedisServer):
    """Two sessions with their own budgets at 40/s exceed a 50/s key; sharing one does not."""

    async def run(budgets: list[Any]) -> int:
        async with FakeTokenFactory(rate_limit=SERVER_RATE, rate_burst=3) as fake:
            job_id = fake.add_job()
            sessions = [fake.session(budget=budget, max_retries=5) for budget in budgets]

            async def poll(session: AsyncSession) -> None:
                for _ in range(25):
                    await session.get_job(job_id)

            async with asyncio.TaskGroup() as group:
                for session in sessions:
                    group.create_task(poll(session))
            for session in sessions:
                await session.close()
            return fake.rate_limited

    assert await run([AdaptiveBudget(rate=BUDGET_RATE) for _ in range(2)]) > 0
    clients = [Redis.from_url(redis_server.url) for _ in range(2)]
    shared = [RedisBudget(client, name="key", rate=BUDGET_RATE) for client in clients]
    assert await run(shared) == 0
    assert all(budget.shared for budget in shared)
    for budget, client in zip(shared, clients, strict=True):
        await budget.aclose()
        await client.aclose()


async def test_a_429_seen_by_one_process_pauses_all(redis_server: RedisServer):
    clients = [Redis.from_url(redis_server.url) for _ in range(2)]
    first, second = (RedisBudget(client, name="key", max_pause=2) for client in clients)
    assert await second.acquire(None) is None  # unpaced until the server pushes back
    first.record(429, {"retry-after": "5"})
    await first.aclose()
    loop = asyncio.get_running_loop()
    wait = await second.acquire(loop.time() + 1)
    assert wait is not None and wait > 4.9  # refused: the pause outlasts max_pause
    assert second.shared
    for client in clients:
        await client.aclose()


async def test_a_429_lowers_the_shared_pace_to_the_server_refill(redis_server: RedisServer):
    clients = [Redis.from_url(redis_server.url) for _ in range(2)]
    first, second = (RedisBudget(client, name="key", rate=100) for client in clients)
    headers = {
        "retry-after-ms": "10",
        "x-ratelimit-limit-requests": "10",
        "x-ratelimit-remaining-requests": "0",
        "x-ratelimit-reset-requests": "1s",
    }
    first.record(429, headers)  # the server refills 9.5 a second: pace 90% of that
    await first.aclose()
    assert first.rate is not None and first.rate == pytest.approx(0.9 * 9.5)
    await second.acquire(None)
    assert second.rate == pytest.approx(0.9 * 9.5, rel=0.05)
    for client in clients:
        await client.aclose()


async def test_a_session_refused_by_the_shared_budget_raises_rate_limit_error(
    redis_server: RedisServer,
):
    client = Redis.from_url(redis_server.url)
    budget = RedisBudget(client, name="key", max_pause=1)
    budget.record(429, {"retry-after": "30"})
    await budget.aclose()
    async with FakeTokenFactory() as fake:
        job_id = fake.add_job()
        async with fake.session(budget=RedisBudget(client, name="key", max_pause=1)) as session:
            with pytest.raises(RateLimitError) as caught:
                await session.get_job(job_id)
        assert caught.value.retry_after is not None and caught.value.retry_after > 29
        assert fake.requests == {}  # nothing was sent
    await client.aclose()


async def test_the_budget_falls_back_while_redis_is_away_and_rejoins(
    redis_server: RedisServer, caplog: pytest.LogCaptureFixture
):
    client = Redis.from_url(redis_server.url, socket_connect_timeout=0.5)
    budget = RedisBudget(client, name="key", rate=1000, retry_every=0.05)
    assert await budget.acquire(None) is None and budget.shared
    redis_server.kill()
    with caplog.at_level(logging.WARNING, logger="nebius_ft_async"):
        for _ in range(5):
            assert await budget.acquire(None) is None  # from the fallback
        assert not budget.shared
        redis_server.start()
        await asyncio.sleep(0.1)
        assert await budget.acquire(None) is None
    assert budget.shared
    said = [r.getMessage() for r in caplog.records]
    assert len([m for m in said if m.startswith("Redis unreachable")]) == 1
    assert len([m for m in said if m.startswith("Redis is back")]) == 1
    await client.aclose()


async def test_a_turn_asked_of_a_stalled_redis_keeps_its_deadline(redis_server: RedisServer):
    client = Redis.from_url(redis_server.url)
    budget = RedisBudget(client, name="key", rate=1000, redis_timeout=30)
    assert await budget.acquire(None) is None
    assert redis_server.process is not None
    redis_server.process.send_signal(signal.SIGSTOP)  # connected, but no answer
    try:
        wait = await budget.acquire(asyncio.get_running_loop().time() + 0.2)
    finally:
        redis_server.process.send_signal(signal.SIGCONT)
    assert wait is not None and wait > 0  # refused at its deadline, not 30 s later
    assert budget.shared  # a late answer is not Redis being away
    assert await budget.acquire(None) is None
    await client.aclose()


def test_settings_are_checked(redis_server: RedisServer):
    client = Redis.from_url(redis_server.url)
    with pytest.raises(ValueError, match="rate"):
        RedisBudget(client, rate=0)
    with pytest.raises(ValueError, match="burst"):
        RedisBudget(client, burst=0)
    with pytest.raises(ValueError, match="name"):
        RedisBudget(client, name="a{b}")
    with pytest.raises(ValueError, match="redis_timeout"):
        RedisBudget(client, redis_timeout=-1)
    with pytest.raises(ValueError, match="lease"):
        ReplicaMonitor(_offline_session(), client, lease=0)
    with pytest.raises(ValueError, match="replica_id"):
        ReplicaMonitor(_offline_session(), client, replica_id="")
    with pytest.raises(ValueError, match="max_jobs"):
        ReplicaMonitor(_offline_session(), client, max_jobs=0)


def _offline_session() -> AsyncSession:
    return AsyncSession("key", base_url="http://127.0.0.1:9")


def test_importing_the_package_does_not_import_redis():
    code = "import sys, nebius_ft_async; assert 'redis' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


# -- JobMonitor.discard ------------------------------------------------------------------


async def test_a_discarded_job_is_no_longer_polled_nor_reported():
    async with FakeTokenFactory() as fake:
        kept, dropped = fake.add_job(finish_after=0.2), fake.add_job(finish_after=0.2)
        async with fake.session() as session, JobMonitor(session, poll_interval=0.02) as monitor:
            monitor.add(kept, dropped)
            waiting = asyncio.ensure_future(monitor.wait(dropped))
            await asyncio.sleep(0.05)
            monitor.discard(dropped, "ftjob-unknown")
            outcomes = [outcome async for outcome in monitor]
            polls_after = fake.requests.get(f"/v1/fine_tuning/jobs/{dropped}", 0)
        assert [job.id for job in outcomes if not isinstance(job, Exception)] == [kept]
        assert waiting.cancelled()
        assert fake.requests[f"/v1/fine_tuning/jobs/{dropped}"] == polls_after


# -- replicas in one process -------------------------------------------------------------


async def test_replicas_split_the_jobs_and_publish_each_once(redis: Redis):
    async with AttributingFake(2) as fake:
        jobs = fake.add_jobs(12, finish_after=lambda i: 0.3 + 0.05 * i)
        sessions = [AsyncSession(fake.api_key, base_url=fake.url_for(k)) for k in range(2)]
        options = {"name": "jobs", "lease": 0.6, "poll_interval": 0.05, "fleet_refresh": False}
        async with (
            ReplicaMonitor(sessions[0], redis, **options) as first,
            ReplicaMonitor(sessions[1], redis, **options) as second,
        ):
            await _replicas_live(redis, "jobs", 2)
            assert await register_jobs(redis, jobs, name="jobs") == 12
            finished = await collect(redis, "jobs", 12)
        for session in sessions:
            await session.close()
    assert sorted(entry.job_id for entry in finished) == jobs
    assert {entry.status for entry in finished} == {"succeeded"}
    assert all(entry.job is not None and entry.job.id == entry.job_id for entry in finished)
    assert {entry.replica for entry in finished} == {first.replica_id, second.replica_id}
    never_polled_by_two(fake.polls)


async def test_a_replica_rejoins_after_redis_lost_its_data(redis: Redis):
    async with FakeTokenFactory() as fake:
        jobs = fake.add_jobs(5, finish_after=1.0)
        async with (
            fake.session() as session,
            ReplicaMonitor(session, redis, name="jobs", lease=0.3, poll_interval=0.05) as monitor,
        ):
            await monitor.add(*jobs)
            await wait_until(lambda: monitor.watching == 5, 10)
            await redis.flushall()  # as a restart without persistence would
            finished = await collect(redis, "jobs", 5)
    assert sorted(entry.job_id for entry in finished) == jobs


async def test_a_replica_started_again_under_its_name_watches_what_it_held(redis: Redis):
    async with FakeTokenFactory() as fake:
        job_id = fake.add_job(finish_after=0.1)
        await redis.hset("nebius-ft:{jobs}:owners", job_id, "replica-1")  # from its last run
        async with (
            fake.session() as session,
            ReplicaMonitor(
                session, redis, name="jobs", lease=0.3, poll_interval=0.05, replica_id="replica-1"
            ),
        ):
            [finished] = await collect(redis, "jobs", 1)
    assert (finished.job_id, finished.replica, finished.status) == (
        job_id,
        "replica-1",
        "succeeded",
    )


async def test_a_job_that_cannot_be_watched_is_published_as_an_error(redis: Redis):
    async with (
        FakeTokenFactory() as fake,
        fake.session() as session,
        ReplicaMonitor(session, redis, name="jobs", lease=0.3, poll_interval=0.05) as monitor,
    ):
        await monitor.add("ftjob-missing")
        [finished] = await collect(redis, "jobs", 1)
    assert finished.status == "error" and finished.job is None
    assert finished.error is not None and "404" in finished.error


async def test_jobs_added_while_redis_is_away_are_watched_and_published_later(
    durable_redis_server: RedisServer,
):
    redis = Redis.from_url(durable_redis_server.url, socket_connect_timeout=0.3)
    async with FakeTokenFactory() as fake:
        jobs = fake.add_jobs(3, finish_after=0.1)
        async with (
            fake.session() as session,
            ReplicaMonitor(
                session, redis, name="jobs", lease=0.3, poll_interval=0.05, redis_timeout=0.3
            ) as monitor,
        ):
            await asyncio.sleep(0.15)  # joined
            durable_redis_server.kill()
            await monitor.add(*jobs)
            assert monitor.watching == 3 and not monitor.shared
            await wait_until(lambda: not monitor.watching, 10)  # polled to their end
            durable_redis_server.start()
            finished = await collect(redis, "jobs", 3)
            assert monitor.shared
    assert sorted(entry.job_id for entry in finished) == jobs
    await redis.aclose()


def _readme_sample() -> str:
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    section = readme.split("## Replicas sharing one API key (Redis)", 1)[1]
    return section.split("```python\n", 1)[1].split("```", 1)[0]


async def test_the_readme_sample_runs(
    redis: Redis, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    namespace: dict[str, Any] = {}
    exec(_readme_sample(), namespace)
    async with FakeTokenFactory() as fake:
        fake.add_job("ftjob-abc", finish_after=0)
        monkeypatch.setenv("NEBIUS_API_KEY", fake.api_key)
        monkeypatch.setenv("NEBIUS_BASE_URL", fake.url)
        replica = asyncio.ensure_future(namespace["run_replica"](redis))
        printed: list[str] = []

        def notified() -> bool:
            printed.append(capsys.readouterr().out)
            return "ftjob-abc succeeded" in "".join(printed)

        await wait_until(notified, 30)
        assert notified()
        replica.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await replica
        assert fake.requests["/v1/fine_tuning/jobs/ftjob-abc"] == 1
    assert await redis.hlen("nebius-ft:{team-jobs}:owners") == 0


# -- replicas in separate processes ------------------------------------------------------


class Replicas:
    """Replica processes (this file run as a script), one per fake address."""

    def __init__(self, fake: AttributingFake, redis_url: str, name: str, logs: Path) -> None:
        self.processes: list[subprocess.Popen[bytes]] = []
        for k in range(fake.replicas):
            args = [sys.executable, __file__, redis_url, fake.url_for(k), fake.api_key, name]
            with (logs / f"replica-{k}.log").open("wb") as log_file:
                self.processes.append(subprocess.Popen(args, stderr=log_file))

    def kill(self, k: int) -> None:
        self.processes[k].kill()
        self.processes[k].wait()

    def close(self) -> None:
        for k in range(len(self.processes)):
            self.kill(k)


async def _replicas_live(redis: Redis, name: str, count: int) -> None:
    with anyio.fail_after(30):
        while await redis.zcard(f"nebius-ft:{{{name}}}:replicas") < count:  # noqa: ASYNC110
            await asyncio.sleep(0.05)


async def test_replica_processes_share_the_budget_and_survive_a_kill(
    redis: Redis, redis_server: RedisServer, tmp_path: Path
):
    async with AttributingFake(3, rate_limit=SERVER_RATE, rate_burst=3) as fake:
        replicas = Replicas(fake, redis_server.url, "fleet", tmp_path)
        try:
            await _replicas_live(redis, "fleet", 3)
            jobs = fake.add_jobs(30, finish_after=lambda i: 1.0 + 0.1 * i)
            await register_jobs(redis, jobs, name="fleet")
            await wait_until(lambda: len({job_id for job_id, _ in fake.polls}) == 30, 30)
            replicas.kill(0)  # it has polled each job it held
            orphans = {job_id for job_id, address in fake.polls if address == "127.0.0.1"}
            published = await redis.xrange("nebius-ft:{fleet}:finished")
            orphans -= {fields[b"job_id"].decode() for _, fields in published}
            finished = await collect(redis, "fleet", 30)
        finally:
            replicas.close()
    assert sorted(entry.job_id for entry in finished) == jobs  # each once, none dropped
    assert fake.rate_limited == 0  # 3 processes, one budget below the key's rate
    pollers = never_polled_by_two(fake.polls)
    assert {address for _, address in fake.polls} == {"127.0.0.1", "127.0.0.2", "127.0.0.3"}
    assert orphans  # the killed replica held jobs not yet finished: others took them over
    assert all(pollers[job_id][0] == "127.0.0.1" for job_id in orphans)
    assert all(len(pollers[job_id]) == 2 for job_id in orphans)


async def test_replica_processes_go_on_while_redis_restarts(
    durable_redis_server: RedisServer, tmp_path: Path
):
    redis = Redis.from_url(durable_redis_server.url, socket_connect_timeout=0.3)
    async with AttributingFake(2) as fake:
        replicas = Replicas(fake, durable_redis_server.url, "fleet", tmp_path)
        try:
            await _replicas_live(redis, "fleet", 2)
            jobs = fake.add_jobs(20, finish_after=lambda i: 0.5 + 0.15 * i)
            await register_jobs(redis, jobs, name="fleet")
            finished = await collect(redis, "fleet", 3)
            durable_redis_server.kill()
            polls_before = len(fake.polls)
            await asyncio.sleep(1.0)
            assert len(fake.polls) > polls_before  # still watching without Redis
            durable_redis_server.start()
            finished += await collect(redis, "fleet", 17)
        finally:
            replicas.close()
    assert sorted(entry.job_id for entry in finished) == jobs
    never_polled_by_two(fake.polls)
    await redis.aclose()


async def _replica(redis_url: str, base_url: str, api_key: str, name: str) -> None:
    redis = Redis.from_url(redis_url, socket_connect_timeout=0.3)
    budget = RedisBudget(redis, name=name, rate=BUDGET_RATE, redis_timeout=0.3)
    async with (
        AsyncSession(api_key, base_url=base_url, budget=budget, max_retries=5) as session,
        ReplicaMonitor(
            session,
            redis,
            name=name,
            lease=0.6,
            poll_interval=0.5,  # 30 jobs: 60 polls a second wanted, more than the budget
            fleet_refresh=False,
            redis_timeout=0.3,
        ),
    ):
        await asyncio.Event().wait()


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    asyncio.run(_replica(*sys.argv[1:5]))

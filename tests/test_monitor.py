"""Many jobs under faults: deadlines that always fire, hung polls that starve nobody, checked
options, and fleet refresh from list pages (on a MockTransport and the fake, never a patched
client)."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable
from contextlib import aclosing
from typing import Any

import anyio
import pytest

from nebius_ft_async import (
    AsyncSession,
    FineTuningJob,
    JobMonitor,
    JobWaitError,
    RetryPolicy,
    WaitTimeout,
    WireRequest,
    WireResponse,
    as_completed,
    follow_events,
    wait_for_job,
    wait_for_jobs,
    wait_for_operation,
)
from nebius_ft_async._fleet import keep_walking
from nebius_ft_async.testing import FakeTokenFactory

from .conftest import forever
from .mocks import LOOPBACK, mock_session
from .samples import job_body

pytestmark = pytest.mark.anyio

HANG_GUARD = 20  # seconds: only there so a broken deadline fails instead of hanging the suite


def running(job_id: str) -> dict[str, Any]:
    return job_body(job_id, status="running", trained_steps=1, total_steps=100)


def job_server(answer: Callable[[str], Awaitable[WireResponse]]) -> AsyncSession:
    """A session (real sleeps) whose job GETs ``answer(job_id)`` answers, on a MockTransport."""

    async def get_job(request: WireRequest) -> WireResponse:
        return await answer(request.url.path.rsplit("/", 1)[1])

    return mock_session(get_job, retry_policy=RetryPolicy(), base_url=LOOPBACK)


# -- deadlines always fire -------------------------------------------------------------


async def test_a_long_retry_after_among_many_jobs_ends_each_at_its_deadline() -> None:
    """One job answers 429 with Retry-After: 30: the whole session waits, but every job's
    0.5 s timeout still fires, each WaitTimeout carrying the last job seen."""
    limited = asyncio.Event()

    async def answer(job_id: str) -> WireResponse:
        if job_id == "job-7" and not limited.is_set():
            limited.set()
            return WireResponse.of(429, json={"detail": "slow down"}, headers={"Retry-After": "30"})
        return WireResponse.of(json=running(job_id))

    ids = [f"job-{i}" for i in range(12)]
    async with job_server(answer) as session:
        with anyio.fail_after(HANG_GUARD):
            results = await wait_for_jobs(
                session, ids, poll_interval=0.01, timeout=0.5, fleet_refresh=False
            )
    assert limited.is_set()
    assert all(isinstance(outcome, WaitTimeout) for outcome in results.values())
    seen = [o for o in results.values() if isinstance(o, WaitTimeout) and o.job is not None]
    assert seen and all(o.job is not None and o.job.status == "running" for o in seen)


async def test_wait_for_job_times_out_during_a_429_pause() -> None:
    async def answer(job_id: str) -> WireResponse:
        return WireResponse.of(429, json={"detail": "slow down"}, headers={"Retry-After": "30"})

    async with job_server(answer) as session:
        with anyio.fail_after(HANG_GUARD), pytest.raises(WaitTimeout) as caught:
            await wait_for_job(session, "job-1", poll_interval=0.01, timeout=0.3)
    assert caught.value.job is None and "never seen" in str(caught.value)


async def test_deadlines_fire_while_polls_hang() -> None:
    arrived = asyncio.Event()
    cancelled: list[str] = []

    async def answer(job_id: str) -> WireResponse:
        arrived.set()
        try:
            await forever()
        finally:
            cancelled.append(job_id)
        raise AssertionError("unreachable")

    async with job_server(answer) as session:
        with anyio.fail_after(HANG_GUARD):
            with pytest.raises(WaitTimeout):
                await wait_for_job(session, "job-1", poll_interval=0.01, timeout=0.2)
            results = await wait_for_jobs(session, ["a", "b"], poll_interval=0.01, timeout=0.2)
            assert all(isinstance(outcome, WaitTimeout) for outcome in results.values())
            async with aclosing(follow_events(session, "c", poll_interval=0.01, timeout=0.2)) as it:
                with pytest.raises(WaitTimeout):
                    async for _ in it:
                        pass
    assert arrived.is_set()


async def test_wait_for_operation_times_out_on_a_hung_server() -> None:
    async def hang(request: WireRequest) -> WireResponse:
        await forever()
        raise AssertionError("unreachable")

    async with mock_session(hang, retry_policy=RetryPolicy(), base_url=LOOPBACK) as session:
        with anyio.fail_after(HANG_GUARD), pytest.raises(WaitTimeout) as caught:
            await wait_for_operation(session, "op-1", poll_interval=0.01, timeout=0.2)
    assert caught.value.job_id == "op-1"


async def test_follow_events_times_out_with_the_last_job_seen() -> None:
    async with FakeTokenFactory() as fake:
        job_id = fake.add_job(step_seconds=60)
        events = []
        async with fake.session() as session:
            with pytest.raises(WaitTimeout) as caught:
                async for event in follow_events(session, job_id, poll_interval=0.01, timeout=0.3):
                    events.append(event)
    assert events and events[0].message == "Validating training file"
    assert caught.value.job is not None and caught.value.job.id == job_id


# -- no starvation ---------------------------------------------------------------------


async def test_hung_polls_do_not_hold_back_healthy_jobs() -> None:
    """A fifth of the jobs never answer. The healthy ones still finish, three polls each,
    long before the first hung poll gives up (its poll timeout is 5 s)."""
    gets: dict[str, int] = {}
    hung_ended: list[str] = []

    async def answer(job_id: str) -> WireResponse:
        if job_id.startswith("hung"):
            try:
                await forever()
            finally:
                hung_ended.append(job_id)
        gets[job_id] = gets.get(job_id, 0) + 1
        status = "succeeded" if gets[job_id] >= 3 else "running"
        return WireResponse.of(json=job_body(job_id, status=status))

    hung = [f"hung-{i}" for i in range(10)]
    healthy = [f"ok-{i}" for i in range(40)]
    finished: list[str] = []
    ended_while_healthy_ran: list[str] = []
    async with job_server(answer) as session:
        with anyio.fail_after(HANG_GUARD):
            outcomes = as_completed(
                session,
                [*hung, *healthy],  # the hung ones first: they would take every slot
                poll_interval=0.01,
                max_concurrent_polls=8,
                fleet_refresh=False,
            )
            async with aclosing(outcomes):
                async for outcome in outcomes:
                    assert isinstance(outcome, FineTuningJob)
                    finished.append(outcome.id)
                    ended_while_healthy_ran.extend(hung_ended)
                    if len(finished) == len(healthy):
                        break
    assert sorted(finished) == sorted(healthy)
    assert ended_while_healthy_ran == []
    assert all(gets[job_id] == 3 for job_id in healthy)


# -- options are checked ---------------------------------------------------------------


@pytest.mark.parametrize("value", [0, -1, math.nan, math.inf, "5", True])
async def test_bad_intervals_and_timeouts_are_refused(value: Any) -> None:
    async with FakeTokenFactory() as fake, fake.session() as session:
        with pytest.raises(ValueError, match="poll_interval"):
            await wait_for_job(session, "j", poll_interval=value)
        with pytest.raises(ValueError, match="poll_interval"):
            JobMonitor(session, poll_interval=value)
        with pytest.raises(ValueError, match="poll_timeout"):
            await wait_for_operation(session, "op", poll_timeout=value)
        with pytest.raises(ValueError, match="timeout"):
            await wait_for_jobs(session, ["j"], timeout=value)
        with pytest.raises(ValueError, match="timeout"):
            await anext(follow_events(session, "j", timeout=value))
    assert fake.requests == {}


@pytest.mark.parametrize("value", [0, -3, 1.5])
async def test_bad_counts_are_refused(value: Any) -> None:
    async with FakeTokenFactory() as fake, fake.session() as session:
        with pytest.raises(ValueError, match="max_concurrent_polls"):
            JobMonitor(session, max_concurrent_polls=value)
        with pytest.raises(ValueError, match="page_size"):
            await anext(follow_events(session, "j", page_size=value))


async def test_a_remote_api_has_a_floor_on_the_poll_interval() -> None:
    async with AsyncSession("k", base_url="https://api.example.invalid") as session:
        assert session.min_poll_interval == 1.0
        with pytest.raises(ValueError, match=r"poll_interval must be at least 1 s"):
            await wait_for_job(session, "j", poll_interval=0.5)
        JobMonitor(session, poll_interval=1)  # the floor itself is fine


async def test_an_invalid_job_id_is_refused_when_added() -> None:
    async with (
        FakeTokenFactory() as fake,
        fake.session() as session,
        JobMonitor(session, poll_interval=0.01) as monitor,
    ):
        with pytest.raises(ValueError, match="job_id"):
            monitor.add("ok", "")
        assert monitor.watching == 0


# -- fleet refresh ---------------------------------------------------------------------


def list_requests(fake: FakeTokenFactory) -> int:
    return fake.requests.get("/v1/fine_tuning/jobs", 0)


def job_gets(fake: FakeTokenFactory) -> int:
    return sum(n for path, n in fake.requests.items() if path.count("/") == 4)


async def watch_all(
    fake: FakeTokenFactory, ids: list[str], *, fleet_refresh: bool = True
) -> tuple[dict[str, FineTuningJob | JobWaitError], dict[str, list[str]]]:
    updates: dict[str, list[str]] = {}

    def on_update(job: FineTuningJob) -> None:
        updates.setdefault(job.id, []).append(f"{job.status}:{job.trained_steps}")

    async with fake.session() as session:
        with anyio.fail_after(HANG_GUARD):
            results = await wait_for_jobs(
                session, ids, poll_interval=0.01, on_update=on_update, fleet_refresh=fleet_refresh
            )
    return results, updates


async def test_fleet_refresh_reads_many_jobs_from_list_pages() -> None:
    async with FakeTokenFactory() as fake:
        ids = fake.add_jobs(250, running_steps=2)
        results, updates = await watch_all(fake, ids)
    assert all(isinstance(results[i], FineTuningJob) for i in ids)
    assert {r.status for r in results.values() if isinstance(r, FineTuningJob)} == {"succeeded"}
    assert job_gets(fake) == 0
    # 3 pages per walk, one walk per lifecycle step: far fewer than one GET per job per step
    assert list_requests(fake) <= 3 * 8
    assert all(updates[i][-1] == "succeeded:100" for i in ids)


async def test_fleet_refresh_reports_the_same_as_per_job_polling() -> None:
    async with FakeTokenFactory() as fake:
        ids = fake.add_jobs(30, running_steps=3)
        fleet_results, fleet_updates = await watch_all(fake, ids)
    async with FakeTokenFactory() as fake:
        ids = fake.add_jobs(30, running_steps=3)
        single_results, single_updates = await watch_all(fake, ids, fleet_refresh=False)
    assert fleet_updates == single_updates
    assert {k: v.status for k, v in fleet_results.items() if isinstance(v, FineTuningJob)} == {
        k: v.status for k, v in single_results.items() if isinstance(v, FineTuningJob)
    }


@pytest.mark.parametrize("order", ["oldest_first", "shuffled"])
async def test_fleet_refresh_falls_back_on_a_list_that_is_not_newest_first(order: Any) -> None:
    async with FakeTokenFactory(list_order=order) as fake:
        ids = fake.add_jobs(120, running_steps=2, created_at=lambda i: 1_700_000_000 + i * 60)
        results, updates = await watch_all(fake, ids)
    assert all(isinstance(results[i], FineTuningJob) for i in ids)
    assert all(updates[i][-1] == "succeeded:100" for i in ids)
    assert list_requests(fake) == 1  # one page showed the order, then one GET per job
    assert job_gets(fake) >= len(ids)


async def test_jobs_older_than_every_page_walked_are_polled_one_by_one() -> None:
    async with FakeTokenFactory() as fake:
        old = fake.add_jobs(5, running_steps=2, created_at=1_600_000_000)
        fake.add_jobs(10_000, finish_after=0, created_at=1_700_000_000)  # not watched
        new = fake.add_jobs(50, running_steps=2, created_at=1_800_000_000)
        results, _ = await watch_all(fake, [*new, *old])
    assert all(isinstance(results[i], FineTuningJob) for i in [*new, *old])
    assert all(fake.requests.get(f"/v1/fine_tuning/jobs/{i}", 0) >= 1 for i in old)
    assert not any(f"/v1/fine_tuning/jobs/{i}" in fake.requests for i in new)
    # the first walk gives up where pages stop paying (page 51); later ones stop at page 2
    assert list_requests(fake) < 51 + 2 * 20


async def test_jobs_the_pages_missed_are_polled_spread_out_not_in_one_burst() -> None:
    # a burst of 5: the 20 jobs the first walk misses, polled at once, would meet 429s
    async with FakeTokenFactory(rate_limit=2000, rate_burst=5) as fake:
        old = fake.add_jobs(20, running_steps=2, created_at=1_600_000_000)
        fake.add_jobs(10_000, finish_after=0, created_at=1_700_000_000)  # not watched
        new = fake.add_jobs(20, running_steps=2, created_at=1_800_000_000)
        async with fake.session() as session:
            with anyio.fail_after(HANG_GUARD):
                results = await wait_for_jobs(session, [*new, *old], poll_interval=0.2)
    assert all(isinstance(results[i], FineTuningJob) for i in [*new, *old])
    assert all(fake.requests.get(f"/v1/fine_tuning/jobs/{i}", 0) >= 1 for i in old)
    assert fake.rate_limited == 0


async def test_a_job_the_list_does_not_know_is_reported_alone() -> None:
    async with FakeTokenFactory() as fake:
        ids = fake.add_jobs(20, running_steps=1)
        results, _ = await watch_all(fake, [*ids, "ftjob-gone"])
    assert all(isinstance(results[i], FineTuningJob) for i in ids)
    gone = results["ftjob-gone"]
    assert isinstance(gone, JobWaitError) and "not found" in str(gone.error)


def test_a_walk_goes_on_only_while_pages_pay() -> None:
    assert not keep_walking(pages=1, found=0, oldest_listed=10, oldest_wanted=5, unknown_left=3)
    assert keep_walking(pages=1, found=1, oldest_listed=10, oldest_wanted=5, unknown_left=3)
    assert not keep_walking(pages=2, found=1, oldest_listed=10, oldest_wanted=5, unknown_left=3)
    assert keep_walking(pages=2, found=150, oldest_listed=10, oldest_wanted=5, unknown_left=0)
    assert not keep_walking(pages=2, found=150, oldest_listed=4, oldest_wanted=5, unknown_left=0)
    assert keep_walking(pages=2, found=150, oldest_listed=4, oldest_wanted=5, unknown_left=1)


async def test_polls_that_hang_from_the_same_start_give_their_slots_back() -> None:
    """Every slot is taken by a hung poll started in the same instant: they still turn slow
    and the healthy jobs get polled before the first hung poll gives up."""
    hung_ended: list[str] = []

    async def answer(job_id: str) -> WireResponse:
        if job_id.startswith("hang"):
            try:
                await forever()
            finally:
                hung_ended.append(job_id)
        return WireResponse.of(json=job_body(job_id, status="succeeded"))

    finished: list[str] = []
    ended_before: list[str] = []
    async with job_server(answer) as session:
        with anyio.fail_after(HANG_GUARD):
            outcomes = as_completed(
                session,
                ["hang-a", "hang-b", "ok-c", "ok-d"],
                poll_interval=0.001,
                max_concurrent_polls=2,
                fleet_refresh=False,
            )
            async with aclosing(outcomes):
                async for outcome in outcomes:
                    assert isinstance(outcome, FineTuningJob)
                    finished.append(outcome.id)
                    ended_before.extend(hung_ended)
                    if len(finished) == 2:
                        break
    assert sorted(finished) == ["ok-c", "ok-d"]
    assert ended_before == []


async def test_jobs_added_during_a_walk_the_list_refuses_are_polled_one_by_one() -> None:
    walking = asyncio.Event()
    refuse = asyncio.Event()

    async def answer(request: WireRequest) -> WireResponse:
        if request.url.path == "/v1/fine_tuning/jobs":
            walking.set()
            await refuse.wait()
            return WireResponse.of(403, json={"detail": "listing is not allowed"})
        job_id = request.url.path.rsplit("/", 1)[1]
        return WireResponse.of(json=job_body(job_id, status="succeeded"))

    first = [f"job-{i}" for i in range(12)]
    later = [f"late-{i}" for i in range(3)]
    async with mock_session(answer, retry_policy=RetryPolicy(), base_url=LOOPBACK) as session:
        with anyio.fail_after(HANG_GUARD):
            async with JobMonitor(session, poll_interval=0.01) as monitor:
                monitor.add(*first)
                await walking.wait()  # the first walk is waiting for its page
                monitor.add(*later)
                refuse.set()
                outcomes = [outcome async for outcome in monitor]
    assert sorted(o.id for o in outcomes if isinstance(o, FineTuningJob)) == sorted(first + later)
    assert monitor.fleet_walks == 1  # refused once: fleet refresh is off for this monitor

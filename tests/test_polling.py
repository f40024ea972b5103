"""wait_for_job, JobMonitor / as_completed / wait_for_jobs and follow_events, against a
``MockTransport`` that scripts job lifecycles."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest

from nebius_ft_async import (
    AsyncSession,
    FineTuningJob,
    JobMonitor,
    JobStatus,
    JobWaitError,
    NotFoundError,
    WaitTimeout,
    WireRequest,
    WireResponse,
    as_completed,
    follow_events,
    wait_for_job,
    wait_for_jobs,
)
from nebius_ft_async._polling import next_poll_delay, transient_wait, watched_state

from .conftest import forever, wait_until
from .mocks import LOOPBACK, Paths, listed, mock_session
from .samples import event_body, job_body

pytestmark = pytest.mark.anyio

TICK = 0.001


def running(job_id: str, steps: int, **extra: Any) -> dict[str, Any]:
    return job_body(job_id, status="running", trained_steps=steps, total_steps=100, **extra)


def lifecycle(job_id: str, final: str = "succeeded") -> list[dict[str, Any]]:
    return [
        job_body(job_id, status="validating_files", trained_steps=None),
        job_body(job_id, status="queued", trained_steps=None),
        running(job_id, 10),
        running(job_id, 10),
        running(job_id, 50),
        job_body(job_id, status=final, trained_steps=100, total_steps=100),
    ]


@pytest.fixture
async def no_retry_session(paths: Paths) -> Any:
    """Session failures reach the poller at once (the session itself does not retry)."""
    async with mock_session(paths, base_url=LOOPBACK, max_retries=0) as session:
        yield session


class InFlight:
    """A handler that answers as ``paths`` does after ``delay`` seconds (so concurrent
    requests overlap) and keeps the most requests it had at once."""

    def __init__(self, paths: Paths, delay: float) -> None:
        self.paths = paths
        self.delay = delay
        self.in_flight = 0
        self.most_in_flight = 0

    async def __call__(self, request: WireRequest) -> WireResponse:
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            await asyncio.sleep(self.delay)
            return await self.paths(request)
        finally:
            self.in_flight -= 1


async def test_wait_for_job_until_succeeded_reporting_changes(
    paths: Paths, session: AsyncSession
) -> None:
    paths.job("j1", *lifecycle("j1"))
    updates: list[tuple[str, int | None]] = []
    job = await wait_for_job(
        session,
        "j1",
        poll_interval=TICK,
        on_update=lambda j: updates.append((j.status, j.trained_steps)),
    )
    assert job.status is JobStatus.SUCCEEDED
    assert paths.job_gets("j1") == 6
    assert updates == [
        ("validating_files", None),
        ("queued", None),
        ("running", 10),
        ("running", 50),  # the repeated running/10 poll changed nothing a person watches
        ("succeeded", 100),
    ]


async def test_async_on_update_and_session_method(paths: Paths, session: AsyncSession) -> None:
    paths.job("j1", *lifecycle("j1"))
    seen: list[str] = []

    async def record(job: FineTuningJob) -> None:
        await asyncio.sleep(0)
        seen.append(job.status)

    job = await session.wait_for_job("j1", poll_interval=TICK, on_update=record)
    assert job.is_terminal
    assert seen[-1] == "succeeded" and len(seen) == 5


@pytest.mark.parametrize("final", ["failed", "cancelled"])
async def test_failed_and_cancelled_jobs_are_returned(
    paths: Paths, session: AsyncSession, final: str
) -> None:
    error = {"code": "invalid_training_file", "message": "line 3 is not JSON", "param": None}
    steps = [*lifecycle("j1", final)[:-1], job_body("j1", status=final, error=error)]
    paths.job("j1", *steps)
    job = await wait_for_job(session, "j1", poll_interval=TICK)
    assert job.status == final and job.is_terminal
    assert job.error is not None and job.error.message == "line 3 is not JSON"


async def test_unknown_status_in_between_keeps_polling(paths: Paths, session: AsyncSession) -> None:
    paths.job(
        "j1",
        running("j1", 5),
        job_body("j1", status="paused_for_capacity"),
        job_body("j1", status="succeeded"),
    )
    statuses: list[str] = []
    job = await wait_for_job(
        session, "j1", poll_interval=TICK, on_update=lambda j: statuses.append(j.status)
    )
    assert job.status == "succeeded"
    assert statuses == ["running", "paused_for_capacity", "succeeded"]


async def test_transient_failures_do_not_end_the_wait(
    paths: Paths, no_retry_session: AsyncSession
) -> None:
    paths.job(
        "j1", running("j1", 5), 503, 429, 502, running("j1", 60), job_body("j1", status="succeeded")
    )
    job = await wait_for_job(no_retry_session, "j1", poll_interval=TICK)
    assert job.status == "succeeded"
    assert paths.job_gets("j1") == 6


@pytest.mark.parametrize("code", [401, 403, 404, 422])
async def test_permanent_failures_end_the_wait_at_once(
    paths: Paths, no_retry_session: AsyncSession, code: int
) -> None:
    paths.job("j1", running("j1", 5), code)
    with pytest.raises(Exception, match=f"HTTP {code}.*scripted {code}") as caught:
        await wait_for_job(no_retry_session, "j1", poll_interval=TICK)
    assert getattr(caught.value, "status_code", None) == code
    assert paths.job_gets("j1") == 2


async def test_timeout_raises_wait_timeout_with_last_job(
    paths: Paths, session: AsyncSession
) -> None:
    paths.job("j1", running("j1", 5))
    with pytest.raises(WaitTimeout) as caught:
        await wait_for_job(session, "j1", poll_interval=0.01, timeout=0.1)
    assert isinstance(caught.value, TimeoutError)
    assert caught.value.job_id == "j1"
    assert caught.value.job is not None and caught.value.job.trained_steps == 5
    assert "j1" in str(caught.value) and "running" in str(caught.value)


async def test_cancelling_the_waiter_stops_polling(paths: Paths, session: AsyncSession) -> None:
    paths.job("j1", running("j1", 5))
    task = asyncio.create_task(wait_for_job(session, "j1", poll_interval=0.01))
    await wait_until(lambda: paths.job_gets("j1") >= 3)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.sleep(0.02)  # a request sent just before the cancel may still land
    polls = paths.job_gets("j1")
    await asyncio.sleep(0.1)  # ten poll intervals
    assert paths.job_gets("j1") == polls


async def test_as_completed_reports_each_job_and_one_404_alone(
    paths: Paths, no_retry_session: AsyncSession
) -> None:
    paths.job("fast", running("fast", 50), job_body("fast", status="succeeded"))
    paths.job("slow", *lifecycle("slow", "failed"))
    paths.job("flaky", running("flaky", 1), 503, job_body("flaky", status="cancelled"))
    outcomes = [
        outcome
        async for outcome in as_completed(
            no_retry_session, ["fast", "slow", "missing", "flaky"], poll_interval=TICK
        )
    ]
    jobs = {o.id: o.status for o in outcomes if isinstance(o, FineTuningJob)}
    errors = [o for o in outcomes if isinstance(o, JobWaitError)]
    assert jobs == {"fast": "succeeded", "slow": "failed", "flaky": "cancelled"}
    assert [e.job_id for e in errors] == ["missing"]
    assert isinstance(errors[0].error, NotFoundError)
    assert "missing" in str(errors[0])


async def test_wait_for_jobs_keyed_by_id_in_given_order(
    paths: Paths, session: AsyncSession
) -> None:
    for job_id in ("b", "a", "c"):
        paths.job(job_id, running(job_id, 1), job_body(job_id, status="succeeded"))
    results = await wait_for_jobs(session, ["b", "a", "c", "a"], poll_interval=TICK)
    assert list(results) == ["b", "a", "c"]
    assert all(
        isinstance(job, FineTuningJob) and job.status == "succeeded" for job in results.values()
    )


async def test_monitor_timeout_reports_only_the_slow_job(
    paths: Paths, session: AsyncSession
) -> None:
    paths.job("done", job_body("done", status="succeeded"))
    paths.job("stuck", running("stuck", 3))
    results = await wait_for_jobs(session, ["done", "stuck"], poll_interval=0.01, timeout=0.15)
    assert isinstance(results["done"], FineTuningJob)
    stuck = results["stuck"]
    assert isinstance(stuck, WaitTimeout)
    assert stuck.job is not None and stuck.job.trained_steps == 3


async def test_jobs_added_to_a_running_monitor(paths: Paths, session: AsyncSession) -> None:
    paths.job(
        "first", running("first", 1), running("first", 2), job_body("first", status="succeeded")
    )
    paths.job("later", running("later", 1), job_body("later", status="failed"))
    async with JobMonitor(session, poll_interval=TICK) as monitor:
        monitor.add("first")
        waiting_for_later = asyncio.create_task(monitor.wait("later"))
        first = [outcome async for outcome in monitor]
        later = await waiting_for_later
        with pytest.raises(JobWaitError) as caught:
            await monitor.wait("ghost")
    assert [job.id for job in first if isinstance(job, FineTuningJob)] == ["first"]
    assert later.status == "failed"
    assert caught.value.job_id == "ghost"
    assert monitor.watching == 0


async def test_many_jobs_use_bounded_polls_and_tasks(paths: Paths) -> None:
    job_ids = [f"job-{i}" for i in range(300)]
    for job_id in job_ids:
        paths.job(
            job_id, running(job_id, 1), running(job_id, 2), job_body(job_id, status="succeeded")
        )
    server = InFlight(paths, delay=0.001)
    tasks_before = len(asyncio.all_tasks())
    most_tasks = 0

    def count_tasks(job: FineTuningJob) -> None:
        nonlocal most_tasks
        most_tasks = max(most_tasks, len(asyncio.all_tasks()))

    async with mock_session(server, base_url=LOOPBACK) as slow_session:
        results = await wait_for_jobs(
            slow_session,
            job_ids,
            poll_interval=0.02,
            max_concurrent_polls=4,
            on_update=count_tasks,
            fleet_refresh=False,
        )
    assert all(isinstance(job, FineTuningJob) for job in results.values())
    assert len(results) == 300
    assert server.most_in_flight <= 8  # 4, and as many slow ones at most
    # 8 polls and a dispatcher: not one per job
    assert most_tasks - tasks_before <= 30
    assert len(paths.seen) == 900


async def test_follow_events_yields_each_new_event_once_in_order(
    paths: Paths, session: AsyncSession
) -> None:
    events: list[dict[str, Any]] = []
    paths.script("/v1/fine_tuning/jobs/j1/events", listed(events, 20, cursors=False))

    def add_events(steps: int, *indexes: int) -> Any:
        def step(request: WireRequest) -> WireResponse:
            events.extend(event_body(i, "j1") for i in indexes)
            return WireResponse.of(json=running("j1", steps))

        return step

    def finish(request: WireRequest) -> WireResponse:
        events.append(event_body(99, "j1", type="message", data=None, message="Job succeeded"))
        return WireResponse.of(json=job_body("j1", status="succeeded"))

    paths.job(
        "j1",
        add_events(1, 2, 1, 0),  # out of order within the page
        add_events(2, *range(3, 8)),  # spread over several pages (page_size 2)
        add_events(3),
        finish,
    )
    followed = [
        event async for event in follow_events(session, "j1", poll_interval=TICK, page_size=2)
    ]
    assert [event.id for event in followed] == [f"ftevent-{i:05d}" for i in [*range(8), 99]]
    assert followed[3].metrics is not None and followed[3].metrics["step"] == 3
    assert followed[-1].metrics is None and followed[-1].message == "Job succeeded"


async def test_follow_events_on_a_newest_first_list(paths: Paths, session: AsyncSession) -> None:
    events: list[dict[str, Any]] = []
    paths.script("/v1/fine_tuning/jobs/j1/events", listed(events, 20, cursors=False))

    def add_newest_first(*indexes: int, final: bool = False) -> Any:
        def step(request: WireRequest) -> WireResponse:
            for i in indexes:
                events.insert(0, event_body(i, "j1"))
            body = job_body("j1", status="succeeded") if final else running("j1", len(events))
            return WireResponse.of(json=body)

        return step

    paths.job(
        "j1",
        add_newest_first(0, 1, 2, 3, 4),
        add_newest_first(5, 6, 7),
        add_newest_first(),
        add_newest_first(8, final=True),
    )
    followed = [
        event.id async for event in follow_events(session, "j1", poll_interval=TICK, page_size=2)
    ]
    assert followed == [f"ftevent-{i:05d}" for i in range(9)]


def test_progress_and_eta() -> None:
    job = FineTuningJob(
        id="j",
        created_at=0,
        model="m",
        status=JobStatus.RUNNING,
        training_file="f",
        trained_steps=25,
        total_steps=100,
        estimated_finish=1767229200,
    )
    assert job.progress == 0.25
    assert job.eta == datetime(2026, 1, 1, 1, 0, tzinfo=UTC)
    unknown = FineTuningJob(
        id="j", created_at=0, model="m", status=JobStatus.QUEUED, training_file="f"
    )
    assert unknown.progress is None and unknown.eta is None


def test_poll_helpers_are_pure() -> None:
    delays = [next_poll_delay(10.0) for _ in range(200)]
    assert all(9.0 <= delay <= 11.0 for delay in delays)
    assert len(set(delays)) > 1  # jittered
    job = FineTuningJob(
        id="j", created_at=0, model="m", status=JobStatus.RUNNING, training_file="f"
    )
    assert watched_state(job) == (JobStatus.RUNNING, None, None, None, None)
    assert transient_wait(ValueError("bug"), 5.0) is None


async def test_one_cancelled_wait_does_not_cancel_other_waiters(
    paths: Paths, session: AsyncSession
) -> None:
    paths.job("j1", running("j1", 1), running("j1", 2), job_body("j1", status="succeeded"))
    async with JobMonitor(session, poll_interval=0.02) as monitor:
        impatient = asyncio.create_task(monitor.wait("j1"))
        patient = asyncio.create_task(monitor.wait("j1"))
        await asyncio.sleep(0)
        impatient.cancel()
        job = await patient
        again = await monitor.wait("j1")  # a new wait after a finished one watches again
    assert impatient.cancelled()
    assert job.status == "succeeded" and again.status == "succeeded"


async def test_closing_a_monitor_under_a_cancel_scope_cancels_its_waiters(
    paths: Paths, session: AsyncSession
) -> None:
    import anyio

    paths.job("j1", running("j1", 1))
    waiter: asyncio.Task[FineTuningJob] | None = None
    with anyio.move_on_after(0.1):
        async with JobMonitor(session, poll_interval=0.01) as monitor:
            waiter = asyncio.create_task(monitor.wait("j1"))
            await forever()
    assert waiter is not None
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert waiter.cancelled()


async def test_follow_events_stops_on_a_server_whose_cursor_cycles() -> None:
    calls = 0

    def answer(request: WireRequest) -> WireResponse:
        nonlocal calls
        if not request.url.path.endswith("/events"):
            return WireResponse.of(json=job_body("j1", status="succeeded"))
        calls += 1
        after = request.url.query.get("after")
        data = [event_body(2 if after == "ftevent-00001" else 1, "j1")]
        return WireResponse.of(json={"object": "list", "data": data, "has_more": True})

    async with mock_session(answer, base_url=LOOPBACK) as cycling:
        followed = [event.id async for event in follow_events(cycling, "j1", poll_interval=TICK)]
    assert followed == ["ftevent-00001", "ftevent-00002"]
    assert calls <= 3


async def test_wait_for_jobs_keys_by_the_ids_asked_for(paths: Paths, session: AsyncSession) -> None:
    paths.job("FTJOB-A", job_body("ftjob-a", status="succeeded"))  # the server lowercases
    results = await wait_for_jobs(session, ["FTJOB-A"], poll_interval=TICK)
    assert list(results) == ["FTJOB-A"]
    assert isinstance(results["FTJOB-A"], FineTuningJob) and results["FTJOB-A"].id == "ftjob-a"


async def test_first_polls_of_a_batch_fit_inside_a_short_timeout(
    paths: Paths, session: AsyncSession
) -> None:
    for job_id in "abcd":
        paths.job(job_id, running(job_id, 1))
    results = await wait_for_jobs(session, list("abcd"), poll_interval=10, timeout=0.2)
    assert all(isinstance(r, WaitTimeout) and r.job is not None for r in results.values())

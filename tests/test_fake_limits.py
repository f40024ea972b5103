"""FakeTokenFactory's rate limit, jobs that finish on a schedule and lists of many jobs,
driven by the real client or a plain aiohttp client on 127.0.0.1."""

from __future__ import annotations

import math
import re
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import anyio
import pytest

from nebius_ft_async import FineTuningJob, RateLimitError, RetryPolicy, wait_for_jobs
from nebius_ft_async.testing import FakeTokenFactory, ListOrder

pytestmark = pytest.mark.anyio

LIFECYCLE = ["validating_files", "queued", "running", "succeeded", "failed", "cancelled"]
RESET = re.compile(r"\d+(\.\d{1,3})?s")  # like OpenAI's "1.5s", "0s"


class Raw:
    """A plain aiohttp client for the fake: status, headers and JSON body of one GET."""

    def __init__(self, fake: FakeTokenFactory, client: aiohttp.ClientSession) -> None:
        self.fake = fake
        self.client = client

    async def get(self, path: str, *, key: str | None = None) -> tuple[int, Any, Any]:
        headers = {"Authorization": f"Bearer {key or self.fake.api_key}"}
        async with self.client.get(self.fake.url + path, headers=headers) as response:
            return response.status, response.headers, await response.json()


@pytest.fixture
async def client() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


# -- the rate limiter ------------------------------------------------------------------


async def test_an_empty_bucket_answers_429_with_its_waits(
    client: aiohttp.ClientSession,
) -> None:
    async with FakeTokenFactory(rate_limit=0.1, rate_burst=3) as fake:  # a token per 10 s
        raw = Raw(fake, client)
        answers = [await raw.get("/v1/fine_tuning/jobs") for _ in range(3)]
        status, headers, body = await raw.get("/v1/fine_tuning/jobs")
    assert [answer[0] for answer in answers] == [200, 200, 200]
    assert [a[1]["x-ratelimit-remaining-requests"] for a in answers] == ["2", "1", "0"]
    for _, served, _ in answers:
        assert served["x-ratelimit-limit-requests"] == "3"
        assert RESET.fullmatch(served["x-ratelimit-reset-requests"])
        assert 0 < float(served["x-ratelimit-reset-requests"][:-1]) <= 30  # 3 tokens, 10 s each
    assert (status, body) == (429, {"detail": "Rate limit exceeded"})
    wait_ms = int(headers["retry-after-ms"])
    assert 0 < wait_ms <= 10_000  # one token, at most 10 s away
    assert int(headers["Retry-After"]) == max(1, math.ceil(wait_ms / 1000))
    assert headers["x-ratelimit-remaining-requests"] == "0"
    assert headers["x-ratelimit-limit-requests"] == "3"
    assert fake.rate_limited == 1


async def test_the_bucket_refills(client: aiohttp.ClientSession) -> None:
    async with FakeTokenFactory(rate_limit=20, rate_burst=1) as fake:
        raw = Raw(fake, client)
        statuses: list[int] = []
        while len(statuses) < 100:  # however slow the machine, the bucket empties
            status, headers, _ = await raw.get("/v1/fine_tuning/jobs")
            statuses.append(status)
            if status == 429:
                break
        await anyio.sleep(int(headers["retry-after-ms"]) / 1000 + 0.005)
        refilled, after, _ = await raw.get("/v1/fine_tuning/jobs")
    assert statuses[-1] == 429 and set(statuses[:-1]) == {200}
    assert refilled == 200 and after["x-ratelimit-remaining-requests"] == "0"
    assert fake.rate_limited == 1


async def test_every_answer_past_the_key_check_carries_rate_headers(
    client: aiohttp.ClientSession,
) -> None:
    async with FakeTokenFactory(rate_limit=0.1, rate_burst=4) as fake:
        raw = Raw(fake, client)
        unknown = await raw.get("/v1/fine_tuning/jobs/ftjob-nope")
        refused = await raw.get("/v1/fine_tuning/jobs", key="wrong-key")
        listed = await raw.get("/v1/fine_tuning/jobs")
        fake.fail_next(503, times=3)
        faults = [await raw.get("/v1/fine_tuning/jobs") for _ in range(3)]
        last = await raw.get("/v1/fine_tuning/jobs")
    assert unknown[0] == 404 and unknown[1]["x-ratelimit-remaining-requests"] == "3"
    assert refused[0] == 401 and "x-ratelimit-remaining-requests" not in refused[1]
    assert listed[1]["x-ratelimit-remaining-requests"] == "2"  # the 401 drew nothing
    assert [fault[0] for fault in faults] == [503, 503, 503]  # served first, whatever the bucket
    assert all("x-ratelimit-limit-requests" not in fault[1] for fault in faults)
    assert last[0] == 200 and last[1]["x-ratelimit-remaining-requests"] == "1"
    assert fake.rate_limited == 0


async def test_the_client_sees_the_limiter_wait(client: aiohttp.ClientSession) -> None:
    async with FakeTokenFactory(rate_limit=0.2, rate_burst=1) as fake:  # a token per 5 s
        job_id = fake.add_job()
        assert (await Raw(fake, client).get("/v1/fine_tuning/jobs"))[0] == 200  # the token
        async with fake.session(max_retries=0) as session:
            with pytest.raises(RateLimitError, match="Rate limit exceeded") as caught:
                await session.get_job(job_id)
    assert caught.value.retry_after is not None and 0 < caught.value.retry_after <= 5
    assert fake.rate_limited == 1


async def test_a_rate_limited_monitor_still_gets_every_job() -> None:
    async with FakeTokenFactory(rate_limit=100, rate_burst=5) as fake:
        ids = fake.add_jobs(4, running_steps=1, outcome=["succeeded", "failed"] * 2)
        async with fake.session(retry_policy=RetryPolicy(max_retries=20)) as session:
            results = await wait_for_jobs(session, ids, poll_interval=0.001)
    jobs = [result for result in results.values() if isinstance(result, FineTuningJob)]
    assert [job.status for job in jobs] == ["succeeded", "failed"] * 2


def test_rate_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="needs a rate_limit"):
        FakeTokenFactory(rate_burst=5)
    with pytest.raises(ValueError, match="positive"):
        FakeTokenFactory(rate_limit=0)
    with pytest.raises(ValueError, match="at least 1"):
        FakeTokenFactory(rate_limit=1, rate_burst=0)
    assert FakeTokenFactory(rate_limit=7.4).rate_burst == 7
    assert FakeTokenFactory(rate_limit=0.2).rate_burst == 1


# -- jobs that finish at scripted times ------------------------------------------------


async def test_jobs_reach_their_outcome_at_finish_after() -> None:
    async with FakeTokenFactory() as fake:
        quick = fake.add_job(finish_after=0.05, outcome="failed")
        slower = fake.add_job(finish_after=0.1, running_steps=3)
        now = fake.add_job(finish_after=0, outcome="cancelled")
        seen: dict[str, list[str]] = {}

        def record(job: FineTuningJob) -> None:
            seen.setdefault(job.id, []).append(job.status)

        async with fake.session() as session:
            results = await wait_for_jobs(
                session, [quick, slower, now], poll_interval=0.002, on_update=record
            )
            events = [event.message async for event in session.iter_events(slower)]
    statuses = {i: job.status for i, job in results.items() if isinstance(job, FineTuningJob)}
    assert statuses == {quick: "failed", slower: "succeeded", now: "cancelled"}
    for job_id, path in seen.items():
        assert path == sorted(path, key=LIFECYCLE.index)  # never back, whatever was skipped
        assert path[-1] == statuses[job_id]
    for job_id, after in ((quick, 0.05), (slower, 0.1), (now, 0)):
        job = fake.jobs[job_id]
        assert job.final_at == job.created + after
        assert job.finished_at is not None
    assert events[0] == "Job succeeded" and events[-1] == "Validating training file"


async def test_polls_do_not_hurry_a_job_with_finish_after() -> None:
    async with FakeTokenFactory() as fake:
        job_id = fake.add_job(finish_after=3600, running_steps=2)
        async with fake.session() as session:
            polled = [(await session.get_job(job_id)).status for _ in range(10)]
            cancelled = await session.cancel_job(job_id)
    assert polled == ["validating_files"] * 10
    assert cancelled.status == "cancelled"
    job = fake.jobs[job_id]
    assert job.final_at is not None and job.final_at < job.created + 3600  # when cancelled


async def test_a_job_moved_by_polls_gets_final_at_when_final() -> None:
    async with FakeTokenFactory() as fake:
        job_id = fake.add_job(running_steps=1)
        assert fake.jobs[job_id].final_at is None
        async with fake.session() as session:
            await session.wait_for_job(job_id, poll_interval=0.001)
    assert fake.jobs[job_id].final_at is not None


def test_job_scripts_are_checked() -> None:
    fake = FakeTokenFactory()
    with pytest.raises(ValueError, match="not both"):
        fake.add_job(step_seconds=1, finish_after=1)
    with pytest.raises(ValueError, match="0 or more"):
        fake.add_job(finish_after=-1)
    with pytest.raises(ValueError, match="2 values for 3 jobs"):
        fake.add_jobs(3, finish_after=[1.0, 2.0])
    with pytest.raises(ValueError, match="every finish_after"):
        fake.add_jobs(2, finish_after=[1.0, -1.0])
    assert fake.jobs == {}


async def test_add_jobs_takes_per_job_values(client: aiohttp.ClientSession) -> None:
    async with FakeTokenFactory(list_order="oldest_first") as fake:
        ids = fake.add_jobs(
            3,
            finish_after=[0, 0, 3600],
            outcome=lambda index: ("succeeded", "failed", "succeeded")[index],
            created_at=1_600_000_000,
        )
        _, _, page = await Raw(fake, client).get("/v1/fine_tuning/jobs")
    assert [job["id"] for job in page["data"]] == ids
    assert [job["status"] for job in page["data"]] == ["succeeded", "failed", "validating_files"]
    assert {job["created_at"] for job in page["data"]} == {1_600_000_000}


async def test_created_at_is_what_the_api_says() -> None:
    async with FakeTokenFactory() as fake:
        old = fake.add_job(created_at=1_500_000_000)
        new = fake.add_job()
        async with fake.session() as session:
            jobs = {job.id: job for job in (await session.list_jobs()).data}
    assert jobs[old].created_at == 1_500_000_000
    assert jobs[new].created_at > 1_700_000_000


# -- lists of many jobs ----------------------------------------------------------------


async def test_100_000_jobs_page_by_page() -> None:
    async with FakeTokenFactory() as fake:
        ids = fake.add_jobs(100_000, finish_after=lambda index: 3600.0 + index)
        newest = ids[::-1]
        async with fake.session() as session:
            first = await session.list_jobs(limit=100)
            second = await session.list_jobs(limit=100, after=first.data[-1].id)
            capped = await session.list_jobs(limit=1000)
            default = await session.list_jobs()
            last = await session.list_jobs(limit=100, after=newest[-51])
    assert [job.id for job in first.data] == newest[:100] and first.has_more
    assert [job.id for job in second.data] == newest[100:200] and second.has_more
    assert len(capped.data) == 100  # the API's cap, as we believe it
    assert len(default.data) == 20 and default.has_more
    assert [job.id for job in last.data] == newest[-50:] and not last.has_more
    assert {job.status for job in first.data} == {"validating_files"}
    assert fake.jobs[ids[5000]].step == -1  # a job on no page was never built


async def test_an_unknown_after_is_an_empty_page() -> None:
    async with FakeTokenFactory() as fake:
        fake.add_jobs(3)
        async with fake.session() as session:
            page = await session.list_jobs(after="ftjob-unknown")
    assert page.data == [] and not page.has_more


async def walk(fake: FakeTokenFactory, page_size: int) -> list[str]:
    async with fake.session() as session:
        return [job.id async for job in session.iter_jobs(page_size=page_size)]


@pytest.mark.parametrize(
    ("order", "expected"),
    [
        ("newest_first", lambda ids: ids[::-1]),
        ("oldest_first", lambda ids: ids),
    ],
)
async def test_list_orders(order: ListOrder, expected: Callable[[list[str]], list[str]]) -> None:
    async with FakeTokenFactory(list_order=order) as fake:
        ids = [*fake.add_jobs(230), fake.add_job(), fake.add_job("ftjob-mine")]
        walked = await walk(fake, page_size=7)
    assert walked == expected(ids)


async def test_a_shuffled_list_is_stable_across_pages() -> None:
    async with FakeTokenFactory(list_order="shuffled") as fake:
        ids = [*fake.add_jobs(1500), *(fake.add_job() for _ in range(40))]
        walked = await walk(fake, page_size=33)
        again = await walk(fake, page_size=100)
        paged: list[str] = []
        async with fake.session() as session:
            page = await session.list_jobs(limit=50)
            while True:
                paged += [job.id for job in page.data]
                if not page.has_more:
                    break
                fake.add_job()  # added between pages: the others keep their places
                page = await session.list_jobs(limit=50, after=paged[-1])
    assert sorted(walked) == sorted(ids) and len(set(walked)) == len(ids)  # each job once
    assert walked not in (ids, ids[::-1])
    assert again == walked
    assert [i for i in paged if i in set(ids)] == walked
    assert len(set(paged)) == len(paged)

    async with FakeTokenFactory(list_order="shuffled") as other:  # the same on every run
        other.add_jobs(1540)
        assert await walk(other, page_size=100) == walked

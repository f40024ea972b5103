"""The request budget: AdaptiveBudget on a fake clock, parse_duration, and sessions pacing
themselves against real local servers (the rate-limited FakeTokenFactory, the conftest API)."""

from __future__ import annotations

import asyncio
import itertools
import math
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import pytest
from aiohttp import web

from nebius_ft_async import (
    AdaptiveBudget,
    AsyncSession,
    RateLimitError,
    RequestBudget,
    RetryPolicy,
    WireResponse,
)
from nebius_ft_async._budget import (
    DEFAULT_MIN_RATE,
    HEADER_PACE_SHARE,
    parse_duration,
    server_refill,
)
from nebius_ft_async.testing import FakeTokenFactory

from .conftest import API_KEY, RecordedSleeps, wait_until
from .mocks import Paths, mock_session, status
from .samples import job_body

pytestmark = pytest.mark.anyio

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

START = 1000.0
NO_HEADERS: dict[str, str] = {}


class FakeTime:
    """A clock that moves only when the budget sleeps: each sleep records its wait and moves
    the clock to the end of it (to the latest end, when sleeps overlap). With ``gate`` set,
    the next sleep first waits for that event, so a test can act while a request sleeps."""

    def __init__(self, start: float = START) -> None:
        self.now = start
        self.waits: list[float] = []
        self.gate: asyncio.Event | None = None

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        end = self.now + seconds
        gate, self.gate = self.gate, None
        if gate is not None:
            await gate.wait()
        else:
            await asyncio.sleep(0)
        self.now = max(self.now, end)

    def budget(self, **options: Any) -> AdaptiveBudget:
        return AdaptiveBudget(clock=self, sleep=self.sleep, **options)


def limit_headers(limit: int, remaining: int, reset: str) -> dict[str, str]:
    return {
        "x-ratelimit-limit-requests": str(limit),
        "x-ratelimit-remaining-requests": str(remaining),
        "x-ratelimit-reset-requests": reset,
    }


def answer_at(
    clock: FakeTime,
    budget: AdaptiveBudget,
    when: float,
    status: int = 200,
    headers: Mapping[str, str] = NO_HEADERS,
) -> None:
    clock.now = when
    budget.record(status, headers)


def pace(budget: AdaptiveBudget) -> float:
    """The budget's pace, which must be set."""
    assert budget.rate is not None
    return budget.rate


def grant_ten_a_second_then_429(clock: FakeTime, budget: AdaptiveBudget) -> None:
    """30 answers 0.1 s apart (10 granted a second over 3 s), then a 429 at START + 3."""
    for tenth in range(30):
        answer_at(clock, budget, START + tenth / 10)
    answer_at(clock, budget, START + 3.0, 429)


# -- AdaptiveBudget on a fake clock ----------------------------------------------------


async def test_unpaced_by_default() -> None:
    clock = FakeTime()
    budget = clock.budget()
    assert budget.rate is None
    assert [await budget.acquire(None) for _ in range(50)] == [None] * 50
    assert await budget.acquire(START + 0.001) is None
    for _ in range(20):
        budget.record(200, NO_HEADERS)  # answers without a 429 set no pace
    assert await budget.acquire(None) is None
    assert budget.rate is None
    assert clock.waits == []
    assert isinstance(budget, RequestBudget)


@pytest.mark.parametrize(
    "headers", [{"retry-after": "3"}, {"retry-after-ms": "3000"}], ids=["seconds", "ms"]
)
async def test_a_429_with_retry_after_holds_the_next_request(headers: dict[str, str]) -> None:
    clock = FakeTime()
    budget = clock.budget()
    budget.record(429, headers)
    assert START + 3.0 <= budget.paused_until <= START + 3.3  # 3 s and up to 10% jitter
    assert await budget.acquire(None) is None
    assert len(clock.waits) == 1
    assert 3.0 <= clock.waits[0] <= 3.3
    assert clock.now == pytest.approx(budget.paused_until)
    assert await budget.acquire(None) is None  # the pause is over: unpaced again
    assert len(clock.waits) == 1


async def test_a_turn_past_the_deadline_is_refused_without_taking_it() -> None:
    clock = FakeTime()
    budget = clock.budget(rate=1.0)
    assert await budget.acquire(None) is None  # turn at START; the next is START + 1
    wait = await budget.acquire(START + 0.5)
    assert isinstance(wait, float)
    assert wait == pytest.approx(1.0)
    assert clock.waits == []
    assert await budget.acquire(None) is None
    # one second, not two: the refused acquire did not take the turn at START + 1
    assert clock.waits == [pytest.approx(1.0)]


async def test_a_pause_past_the_deadline_is_refused_without_taking_a_turn() -> None:
    clock = FakeTime()
    budget = clock.budget(rate=2.0)
    assert await budget.acquire(None) is None
    budget.record(429, {"retry-after": "3"})
    pause = budget.paused_until - START
    assert 3.0 <= pause <= 3.3
    step = 1 / pace(budget)
    wait = await budget.acquire(START + 1.0)
    assert isinstance(wait, float)
    assert wait == pytest.approx(pause)
    assert clock.waits == []
    assert await budget.acquire(None) is None  # sleeps out the pause: its turn is at its end
    assert await budget.acquire(None) is None  # the next turn is one step after that
    assert clock.waits == [pytest.approx(pause), pytest.approx(step)]


async def test_a_pause_longer_than_max_pause_is_refused_at_once() -> None:
    clock = FakeTime()
    budget = clock.budget(max_pause=10.0)
    budget.record(429, {"retry-after": "30"})
    first = await budget.acquire(None)
    second = await budget.acquire(START + 100.0)  # a deadline far off changes nothing
    assert first is not None and 30.0 <= first <= 33.0
    assert second == first
    assert clock.waits == []
    clock.now = budget.paused_until
    assert await budget.acquire(None) is None  # the pause is over
    assert clock.waits == []


async def test_a_429_paces_below_the_rate_granted_before() -> None:
    clock = FakeTime()
    budget = clock.budget()
    grant_ten_a_second_then_429(clock, budget)
    assert budget.rate is not None
    assert budget.rate < 10.0  # 30 answers in the 3 s before it
    assert budget.rate == pytest.approx(9.0)  # 90% of what was granted
    assert await budget.acquire(None) is None
    assert await budget.acquire(None) is None
    assert clock.waits == [pytest.approx(1 / 9)]


async def test_the_pace_grows_back_slowly_near_the_rate_of_the_last_429() -> None:
    clock = FakeTime()
    budget = clock.budget()
    grant_ten_a_second_then_429(clock, budget)
    rates = [pace(budget)]
    for tenth in range(1, 301):  # 30 s of answers, 10 a second
        answer_at(clock, budget, START + 3.0 + tenth / 10)
        if pace(budget) != rates[-1]:
            rates.append(pace(budget))
    assert len(rates) >= 28  # grew about once a second
    for earlier, later in itertools.pairwise(rates):  # 9/s is within 90% of 10/s
        expected = 1.02 if earlier < 1.25 * 10.0 else 1.2  # past 125%: the limit moved
        assert later / earlier == pytest.approx(expected)
    assert rates[-1] > 12.5  # it probed past the rate of the last 429, then sped up


async def test_the_pace_grows_fast_far_below_the_last_429_then_slowly_near_it() -> None:
    clock = FakeTime()
    budget = clock.budget(rate=2.0)
    # the server says it refills 10 requests/s (20 more in 2 s), yet this one was refused
    answer_at(clock, budget, START, 429, limit_headers(20, 0, "2s"))
    assert budget.rate == pytest.approx(1.8)  # 90% of its own pace, lower than 90% of 10/s
    quiet = limit_headers(20, 19, "0.1s")  # most of the quota left: no pace from headers
    rates = [pace(budget)]
    for tenth in range(1, 301):
        answer_at(clock, budget, START + tenth / 10, 200, quiet)
        if pace(budget) != rates[-1]:
            rates.append(pace(budget))
    assert len(rates) >= 28
    fast = slow = 0
    refill = (20 - 0.5) / 2  # none left is "less than one": half a request is counted
    for earlier, later in itertools.pairwise(rates):
        if 0.9 * refill <= earlier < 1.25 * refill:
            assert later / earlier == pytest.approx(1.02)
            slow += 1
        else:
            assert later / earlier == pytest.approx(1.2)
            fast += 1
    assert fast >= 5 and slow >= 5
    assert rates[-1] > 1.25 * refill


async def test_a_429_after_a_few_answers_sets_no_pace_from_them() -> None:
    clock = FakeTime()
    budget = clock.budget()
    for tenth in range(3):  # three answers say nothing of what the server grants
        answer_at(clock, budget, START + tenth / 10)
    answer_at(clock, budget, START + 0.3, 429)
    assert budget.rate is None
    for tenth in range(8):
        answer_at(clock, budget, START + 2.0 + tenth / 10)
    answer_at(clock, budget, START + 2.8, 429)  # eight do
    assert pace(budget) < 10.0


async def test_429s_in_the_cooldown_do_not_lower_the_pace_again() -> None:
    clock = FakeTime()
    budget = clock.budget()
    grant_ten_a_second_then_429(clock, budget)
    after_first = pace(budget)
    for when in (START + 3.0, START + 3.2, START + 3.9):  # answers to requests sent before
        answer_at(clock, budget, when, 429)
    assert budget.rate == after_first
    answer_at(clock, budget, START + 4.5, 429)  # past the cooldown: lowered again
    assert pace(budget) < after_first


@pytest.mark.parametrize(
    ("options", "min_rate"), [({"min_rate": 0.3}, 0.3), ({}, DEFAULT_MIN_RATE)]
)
async def test_repeated_429s_stop_at_min_rate(options: dict[str, float], min_rate: float) -> None:
    clock = FakeTime()
    budget = clock.budget(rate=5.0, **options)
    rates = []
    for second in range(12):  # one 429 every 1.5 s: each past the previous cooldown
        answer_at(clock, budget, START + 1.5 * second, 429)
        rates.append(pace(budget))
    assert rates[0] == pytest.approx(2.5)  # nothing granted to measure: halved
    assert min(rates) == min_rate
    assert rates[-3:] == [min_rate] * 3
    assert rates == sorted(rates, reverse=True)
    assert await budget.acquire(None) is None
    assert await budget.acquire(None) is None
    assert clock.waits == [pytest.approx(1 / min_rate)]


async def test_x_ratelimit_headers_pace_at_the_refill_rate() -> None:
    clock = FakeTime()
    budget = clock.budget()
    budget.record(200, limit_headers(10, 2, "4s"))
    # "2" left is a count rounded down: between 2 and 3, so the middle, (10 - 2.5) / 4 s;
    # paced a little below it, as the estimate may be a few percent high
    assert budget.rate == pytest.approx(HEADER_PACE_SHARE * 1.875)
    assert [await budget.acquire(None) for _ in range(4)] == [None] * 4
    assert clock.waits == [pytest.approx(1 / budget.rate)] * 3  # paced turns, 1 / rate apart
    budget.record(200, limit_headers(10, 6, "1s"))  # more than half left: no header pace
    assert budget.rate is None
    budget.record(200, limit_headers(10, 2, "4s"))
    budget.record(200, limit_headers(10, 10, "0s"))  # the quota full again: no pace either
    assert budget.rate is None


async def test_x_ratelimit_headers_without_the_requests_suffix() -> None:
    clock = FakeTime()
    budget = clock.budget()
    budget.record(
        200,
        {"x-ratelimit-limit": "100", "x-ratelimit-remaining": "10", "x-ratelimit-reset": "6m0s"},
    )
    assert budget.rate == pytest.approx(HEADER_PACE_SHARE * 89.5 / 360)


@pytest.mark.parametrize("remaining", [5, 6, 9, 10])
async def test_no_header_pace_with_at_least_half_the_quota_left(remaining: int) -> None:
    clock = FakeTime()
    budget = clock.budget()
    budget.record(200, limit_headers(10, remaining, "1s"))
    assert budget.rate is None
    assert await budget.acquire(None) is None
    assert await budget.acquire(None) is None
    assert clock.waits == []


async def test_an_exhausted_quota_holds_the_next_request_one_refill_step() -> None:
    clock = FakeTime()
    budget = clock.budget()
    budget.record(200, limit_headers(10, 0, "5s"))  # refills (10 - 0.5) / 5 s = 1.9 a second
    assert budget.rate == pytest.approx(HEADER_PACE_SHARE * 1.9)
    assert await budget.acquire(None) is None
    assert clock.waits == [pytest.approx(1 / 1.9)]


async def test_paced_turns_are_one_step_apart() -> None:
    clock = FakeTime()
    budget = clock.budget(rate=4.0)
    assert [await budget.acquire(None) for _ in range(5)] == [None] * 5
    assert clock.waits == [pytest.approx(0.25)] * 4
    assert clock.now == pytest.approx(START + 1.0)


async def test_concurrent_acquires_queue_one_step_apart() -> None:
    clock = FakeTime()
    budget = clock.budget(rate=4.0)
    assert await asyncio.gather(*(budget.acquire(None) for _ in range(4))) == [None] * 4
    assert sorted(clock.waits) == [pytest.approx(w) for w in (0.25, 0.5, 0.75)]
    assert clock.now == pytest.approx(START + 0.75)


async def test_a_sleeper_queues_again_behind_a_pause_that_began_while_it_slept() -> None:
    clock = FakeTime()
    budget = clock.budget()
    budget.record(429, {"retry-after": "2"})
    first_pause = budget.paused_until
    clock.gate = gate = asyncio.Event()
    sleeper = asyncio.create_task(budget.acquire(None))
    await wait_until(lambda: len(clock.waits) == 1)
    assert not sleeper.done()
    budget.record(429, {"retry-after": "10"})  # while it sleeps: a longer pause begins
    second_pause = budget.paused_until
    assert second_pause > first_pause + 7
    gate.set()
    assert await sleeper is None
    assert clock.now >= second_pause  # it did not go at the end of the first pause
    assert clock.waits == [
        pytest.approx(first_pause - START),
        pytest.approx(second_pause - first_pause),
    ]


@pytest.mark.parametrize("name", ["rate", "min_rate"])
@pytest.mark.parametrize("value", [0, 0.0, -1.0, math.nan, math.inf])
def test_rates_are_validated(name: str, value: float) -> None:
    with pytest.raises(ValueError, match=rf"^{name} must be"):
        if name == "rate":
            AdaptiveBudget(rate=value)
        else:
            AdaptiveBudget(min_rate=value)


def test_valid_rates_are_taken() -> None:
    budget = AdaptiveBudget(rate=3, min_rate=0.5)
    assert budget.rate == 3.0
    assert budget.min_rate == 0.5
    assert "3 requests/s" in repr(budget)
    assert "unpaced" in repr(AdaptiveBudget())


# -- parse_duration ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("1.5", 1.5),
        ("20ms", 0.02),
        ("1s", 1.0),
        ("0s", 0.0),
        ("6m0s", 360.0),
        ("1h2m3s", 3723.0),
        ("1m30.5s", 90.5),
        (" 2s ", 2.0),
    ],
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["abc", "5x", "", "1s2", "s", "1.5.2s", "1 s"])
def test_parse_duration_refuses_junk(text: str) -> None:
    assert parse_duration(text) is None


@pytest.mark.parametrize("text", ["nan", "inf"])
def test_parse_duration_refuses_nan_and_inf(text: str) -> None:
    assert parse_duration(text) is None


def test_a_nan_reset_header_sets_no_pace() -> None:
    budget = AdaptiveBudget(clock=lambda: START)
    budget.record(200, limit_headers(10, 2, "nan"))
    assert budget.rate is None


# -- sessions against real local servers ------------------------------------------------


async def test_a_session_paces_itself_under_the_fakes_rate_limit() -> None:
    # 200 requests/s with a burst of 5 (the brief's 20/s would need 7.5 s for 150 calls).
    # What is deterministic: the first batch of 10 goes out unpaced at a full bucket of 5,
    # so up to 5 are refused; from then on the budget paces at the rate the x-ratelimit
    # headers show, and each later 429 pauses it and slows it down for a second, so at most
    # a few more can follow in the under-a-second this takes. A slower machine sends more
    # slowly and draws fewer 429s, never more. Without pacing (a budget that never waits)
    # this load draws well over a thousand 429s, so a bound of 25% (37) cannot be met by
    # luck, yet leaves the expected ~5 a wide margin. Nothing asserts that any 429 came
    # (a machine slow enough to spread the first batch over 25 ms draws none).
    calls = 150
    async with FakeTokenFactory(rate_limit=200, rate_burst=5) as fake:
        ids = fake.add_jobs(12)
        async with fake.session(max_retries=10) as session:
            jobs = []
            for start in range(0, calls, 10):
                batch = [ids[i % len(ids)] for i in range(start, start + 10)]
                jobs += await asyncio.gather(*(session.get_job(job_id) for job_id in batch))
    assert [job.id for job in jobs] == [ids[i % len(ids)] for i in range(calls)]
    assert fake.rate_limited < calls // 4
    assert sum(fake.requests.values()) == calls + fake.rate_limited  # each 429 retried


class CountingBudget:
    """A user's budget: never waits (or always refuses with ``refuse``), counts calls."""

    def __init__(self, refuse: float | None = None) -> None:
        self.refuse = refuse
        self.acquires = 0
        self.recorded: list[tuple[int, str | None]] = []

    async def acquire(self, deadline: float | None) -> float | None:
        self.acquires += 1
        return self.refuse

    def record(self, status: int, headers: Mapping[str, str]) -> None:
        self.recorded.append((status, headers.get("retry-after-ms")))


@pytest.fixture
def job(paths: Paths) -> None:
    paths.job("j1", job_body("j1"))


async def test_a_users_budget_sees_every_request_and_every_answer(
    paths: Paths, sleeps: RecordedSleeps
) -> None:
    budget = CountingBudget()
    assert isinstance(budget, RequestBudget)
    paths.job("j1", status(503), status(429, {"Retry-After-Ms": "1"}), job_body("j1"))
    paths.script("/v1/fine_tuning/jobs", {"object": "list", "data": [], "has_more": False})
    async with mock_session(paths, sleeps, budget=budget) as session:
        assert session.budget is budget
        assert (await session.get_job("j1")).id == "j1"
        assert (budget.acquires, len(budget.recorded)) == (3, 3)  # two retries included
        await session.list_jobs()
    assert budget.acquires == 4
    assert budget.recorded == [(503, None), (429, "1"), (200, None), (200, None)]
    assert len(paths.seen) == 4
    assert len(sleeps.waits) == 1  # the 503's backoff; the 429's wait is the budget's


async def test_a_redirect_is_a_request_of_its_own_and_a_retry_starts_over(
    sleeps: RecordedSleeps,
) -> None:
    jobs = "/v1/fine_tuning/jobs/"
    moved = WireResponse.of(307, headers={"Location": jobs + "j2"})
    handler = Paths(
        {
            jobs + "j1": [moved],
            jobs + "j2": [WireResponse.of(503), WireResponse.of(json=job_body("j2"))],
        }
    )
    budget = CountingBudget()
    async with mock_session(handler, sleeps, budget=budget) as session:
        assert (await session.get_job("j1")).id == "j2"
    assert [r.url.path for r in handler.seen] == [
        jobs + "j1",
        jobs + "j2",
        jobs + "j1",
        jobs + "j2",
    ]
    assert budget.acquires == 4  # each request sent took its turn
    assert [code for code, _ in budget.recorded] == [307, 503, 307, 200]


@pytest.mark.usefixtures("job")
async def test_a_budgets_refusal_fails_the_call_unsent(paths: Paths) -> None:
    budget = CountingBudget(refuse=7.5)
    async with mock_session(paths, budget=budget) as session:
        with pytest.raises(RateLimitError) as caught:
            await session.get_job("j1")
    assert caught.value.retry_after == 7.5
    assert caught.value.status_code == 429
    assert paths.seen == []
    assert budget.recorded == []


@pytest.mark.usefixtures("job")
async def test_a_budgets_refusal_never_shows_the_key(paths: Paths) -> None:
    async with mock_session(paths, budget=CountingBudget(refuse=7.5)) as session:
        with pytest.raises(RateLimitError) as caught:
            await session.get_job("j1", extra_query={"echo": API_KEY})
    assert "not sent" in str(caught.value)
    assert API_KEY not in str(caught.value)
    assert API_KEY not in repr(caught.value.args)


@pytest.mark.usefixtures("job")
async def test_a_budgets_refusal_is_not_retried(paths: Paths) -> None:
    budget = CountingBudget(refuse=7.5)
    async with mock_session(paths, budget=budget) as session:
        with pytest.raises(RateLimitError) as caught:
            await session.get_job("j1")
    assert paths.seen == []
    assert (budget.acquires, caught.value.attempts) == (1, 1)


async def test_the_default_budget_waits_with_the_retry_policys_sleep(
    paths: Paths, session: AsyncSession, sleeps: RecordedSleeps
) -> None:
    # the conftest session: RetryPolicy(sleep=sleeps), no budget given. Were the 30 s slept
    # for real, this test would hang
    assert isinstance(session.budget, AdaptiveBudget)
    assert session.budget.max_pause == session.retry_policy.max_retry_after
    paths.job("j1", status(429, {"Retry-After": "30"}), job_body("j1"))
    assert (await session.get_job("j1")).id == "j1"
    assert len(paths.seen) == 2
    assert len(sleeps.waits) == 1
    assert 30.0 <= sleeps.waits[0] <= 33.0


async def test_a_session_takes_its_budgets_max_pause_from_the_retry_policy() -> None:
    async with AsyncSession(
        API_KEY, base_url="http://127.0.0.1:9", retry_policy=RetryPolicy(max_retry_after=45)
    ) as session:
        assert isinstance(session.budget, AdaptiveBudget)
        assert session.budget.max_pause == 45


def test_a_reset_further_off_than_a_day_is_not_believed() -> None:
    budget = AdaptiveBudget(clock=lambda: START)
    budget.record(
        200,
        {"x-ratelimit-limit": "1000", "x-ratelimit-remaining": "10", "x-ratelimit-reset": "1.7e12"},
    )
    assert budget.rate is None  # milliseconds since the epoch, read as seconds: ignored


def test_a_header_pace_never_falls_below_min_rate() -> None:
    budget = AdaptiveBudget(clock=lambda: START, min_rate=0.5)
    budget.record(200, limit_headers(1000, 10, "80000s"))  # 990 requests over 22 hours
    assert budget.rate == 0.5


# --- server_refill: the x-ratelimit-* headers, table-driven ---------------------------------


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        # remaining, limit, reset -> (refill a second, low, exhausted)
        (
            {
                "x-ratelimit-remaining-requests": "10",
                "x-ratelimit-limit-requests": "100",
                "x-ratelimit-reset-requests": "10s",
            },
            ((100 - 10.5) / 10, True, False),
        ),
        (
            {"x-ratelimit-remaining": "80", "x-ratelimit-limit": "100", "x-ratelimit-reset": "2"},
            ((100 - 80.5) / 2, False, False),
        ),
        (
            {
                "x-ratelimit-remaining-requests": "0",
                "x-ratelimit-limit-requests": "60",
                "x-ratelimit-reset-requests": "1m0s",
            },
            ((60 - 0.5) / 60, True, True),
        ),
        (
            {
                "x-ratelimit-remaining-requests": "0.25",
                "x-ratelimit-limit-requests": "4",
                "x-ratelimit-reset-requests": "500ms",
            },
            ((4 - 0.25) / 0.5, True, False),
        ),
    ],
)
def test_server_refill_reads_the_quota(headers: dict[str, str], expected: tuple) -> None:
    reading = server_refill(headers)
    assert reading is not None
    assert reading.refill == pytest.approx(expected[0])
    assert (reading.low, reading.exhausted) == expected[1:]


def test_server_refill_reads_a_reset_given_as_a_time_of_day() -> None:
    import time

    headers = {
        "x-ratelimit-remaining-requests": "0",
        "x-ratelimit-limit-requests": "10",
        "x-ratelimit-reset-requests": f"{time.time() + 5:.3f}",  # epoch seconds, 5 s away
    }
    reading = server_refill(headers)
    assert reading is not None and reading.exhausted
    assert (10 - 0.5) / 5.5 < reading.refill < (10 - 0.5) / 4.5


@pytest.mark.parametrize(
    "headers",
    [
        {"x-ratelimit-limit-requests": "10", "x-ratelimit-reset-requests": "1s"},  # no remaining
        {"x-ratelimit-remaining-requests": "1", "x-ratelimit-reset-requests": "1s"},  # no limit
        {"x-ratelimit-remaining-requests": "1", "x-ratelimit-limit-requests": "10"},  # no reset
        {
            "x-ratelimit-remaining-requests": "1",
            "x-ratelimit-limit-requests": "0",
            "x-ratelimit-reset-requests": "1s",
        },  # a zero limit
        {
            "x-ratelimit-remaining-requests": "1",
            "x-ratelimit-limit-requests": "inf",
            "x-ratelimit-reset-requests": "1s",
        },  # an infinite limit
        {
            "x-ratelimit-remaining-requests": "nan",
            "x-ratelimit-limit-requests": "10",
            "x-ratelimit-reset-requests": "1s",
        },
        {
            "x-ratelimit-remaining-requests": "10",
            "x-ratelimit-limit-requests": "10",
            "x-ratelimit-reset-requests": "1s",
        },  # a full quota says nothing
        {
            "x-ratelimit-remaining-requests": "1",
            "x-ratelimit-limit-requests": "10",
            "x-ratelimit-reset-requests": "0",
        },  # no time to refill in
        {
            "x-ratelimit-remaining-requests": "1",
            "x-ratelimit-limit-requests": "10",
            "x-ratelimit-reset-requests": "90000",
        },  # past a day: milliseconds, not believed
        {
            "x-ratelimit-remaining-requests": "1",
            "x-ratelimit-limit-requests": "10",
            "x-ratelimit-reset-requests": "soon",
        },
    ],
)
def test_server_refill_ignores_what_cannot_be_read(headers: dict[str, str]) -> None:
    assert server_refill(headers) is None

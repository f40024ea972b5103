"""Unit tests for nebius_ft_async._retry: what is retried and how long to wait."""

from __future__ import annotations

import itertools
import random
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime

import pytest

from nebius_ft_async._errors import (
    APIConnectionError,
    APIError,
    APIStatusError,
    APITimeoutError,
    ResponseDecodeError,
    error_class_for_status,
)
from nebius_ft_async._retry import (
    RETRYABLE_STATUSES,
    RetryPolicy,
    is_retryable,
    parse_retry_after,
    wait_before_retry,
)

NOW = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)


def http_date(when: datetime) -> str:
    return format_datetime(when, usegmt=True)


def status_error(status: int) -> APIStatusError:
    return error_class_for_status(status)(f"HTTP {status}", status_code=status)


# --- is_retryable -----------------------------------------------------------------------


@pytest.mark.parametrize("status", [408, 409, 429, 500, 501, 502, 503, 504, 599])
def test_retryable_statuses(status: int) -> None:
    assert is_retryable(status_error(status)) is True


@pytest.mark.parametrize("status", [400, 401, 403, 404, 405, 410, 418, 422])
def test_non_retryable_statuses(status: int) -> None:
    assert is_retryable(status_error(status)) is False


def test_retryable_statuses_constant() -> None:
    assert frozenset({408, 409, 429}) == RETRYABLE_STATUSES


def test_connection_error_is_retryable() -> None:
    assert is_retryable(APIConnectionError("connection reset")) is True


def test_timeout_error_is_retryable() -> None:
    assert is_retryable(APITimeoutError("timed out")) is True


def test_response_decode_error_is_not_retryable() -> None:
    error = ResponseDecodeError(
        "bad body", status_code=200, content_type="text/html", request_id=None, body_excerpt="<"
    )

    assert is_retryable(error) is False


def test_plain_api_error_is_not_retryable() -> None:
    assert is_retryable(APIError("something")) is False


# --- parse_retry_after ------------------------------------------------------------------


def test_no_headers_gives_none() -> None:
    assert parse_retry_after({}) is None


def test_retry_after_ms_wins_over_retry_after() -> None:
    headers = {"retry-after-ms": "1500", "retry-after": "30"}

    assert parse_retry_after(headers) == 1.5


def test_retry_after_ms_alone() -> None:
    assert parse_retry_after({"retry-after-ms": "250"}) == 0.25


@pytest.mark.parametrize("bad_ms", ["soon", "-100", ""])
def test_unusable_retry_after_ms_falls_back_to_retry_after(bad_ms: str) -> None:
    headers = {"retry-after-ms": bad_ms, "retry-after": "7"}

    assert parse_retry_after(headers) == 7.0


def test_unusable_retry_after_ms_alone_gives_none() -> None:
    assert parse_retry_after({"retry-after-ms": "soon"}) is None


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("5", 5.0), ("0", 0.0), (" 12 ", 12.0), ("2.5", 2.5), ("0.25", 0.25)],
)
def test_retry_after_seconds(raw: str, expected: float) -> None:
    assert parse_retry_after({"retry-after": raw}) == expected


def test_retry_after_http_date_in_the_future() -> None:
    headers = {"retry-after": http_date(NOW + timedelta(seconds=30))}

    assert parse_retry_after(headers, now=NOW.timestamp()) == pytest.approx(30.0)


def test_retry_after_http_date_in_the_past_gives_zero() -> None:
    headers = {"retry-after": http_date(NOW - timedelta(minutes=5))}

    assert parse_retry_after(headers, now=NOW.timestamp()) == 0.0


def test_retry_after_http_date_uses_now_argument() -> None:
    headers = {"retry-after": http_date(NOW + timedelta(seconds=120))}

    earlier = parse_retry_after(headers, now=NOW.timestamp() - 60)

    assert earlier == pytest.approx(180.0)


@pytest.mark.parametrize("raw", ["soon", "", "Wed, 99 Foo 2026", "1e", "abc123"])
def test_retry_after_garbage_gives_none(raw: str) -> None:
    assert parse_retry_after({"retry-after": raw}, now=NOW.timestamp()) is None


@pytest.mark.parametrize("raw", ["-1", "-0.5"])
def test_negative_retry_after_gives_none(raw: str) -> None:
    assert parse_retry_after({"retry-after": raw}) is None


# --- RetryPolicy ------------------------------------------------------------------------


def test_schedule_doubles_up_to_max_wait() -> None:
    waits = list(itertools.islice(RetryPolicy().schedule(), 6))

    assert waits == [0.5, 1, 2, 4, 8, 8]


def test_schedule_keeps_max_wait() -> None:
    waits = list(itertools.islice(RetryPolicy().schedule(), 10))

    assert waits[5:] == [8.0] * 5


def test_schedule_follows_custom_settings() -> None:
    policy = RetryPolicy(initial_wait=0.1, max_wait=0.5)

    assert list(itertools.islice(policy.schedule(), 5)) == pytest.approx([0.1, 0.2, 0.4, 0.5, 0.5])


def test_each_schedule_starts_over() -> None:
    policy = RetryPolicy()
    first = policy.schedule()
    next(first)
    next(first)

    assert next(policy.schedule()) == 0.5


def test_policy_defaults() -> None:
    policy = RetryPolicy()

    assert policy.max_retries == 2
    assert policy.initial_wait == 0.5
    assert policy.max_wait == 8.0
    assert policy.max_retry_after == 60.0


# --- wait_before_retry ------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(20))
def test_wait_with_retry_after_is_never_shorter_and_at_most_ten_percent_longer(
    seed: int,
) -> None:
    rng = random.Random(seed)

    for retry_after in (0.5, 3.0, 30.0):
        wait = wait_before_retry(2.0, retry_after, rng)
        assert retry_after <= wait <= 1.1 * retry_after


@pytest.mark.parametrize("seed", range(20))
def test_wait_without_retry_after_is_jittered_down_by_at_most_a_quarter(seed: int) -> None:
    rng = random.Random(seed)

    for exponential_wait in (0.5, 1.0, 8.0):
        wait = wait_before_retry(exponential_wait, None, rng)
        assert 0.75 * exponential_wait <= wait <= exponential_wait


def test_wait_with_retry_after_ignores_exponential_wait() -> None:
    wait = wait_before_retry(8.0, 1.0, random.Random(0))

    assert 1.0 <= wait <= 1.1


def test_wait_with_zero_retry_after_is_zero() -> None:
    assert wait_before_retry(4.0, 0.0, random.Random(3)) == 0.0


def test_wait_is_deterministic_for_a_seed() -> None:
    assert wait_before_retry(4.0, None, random.Random(7)) == wait_before_retry(
        4.0, None, random.Random(7)
    )


def test_wait_uses_the_given_rng() -> None:
    draw = random.Random(11).random()

    assert wait_before_retry(4.0, None, random.Random(11)) == pytest.approx(4.0 * (1 - 0.25 * draw))
    assert wait_before_retry(4.0, 2.0, random.Random(11)) == pytest.approx(2.0 * (1 + 0.1 * draw))


def test_wait_without_rng_stays_in_range() -> None:
    wait = wait_before_retry(2.0, None)

    assert 1.5 <= wait <= 2.0


def test_asctime_http_date_is_read_as_gmt() -> None:
    now = parsedate_to_datetime("Sun, 06 Nov 1994 08:49:00 GMT").timestamp()
    assert parse_retry_after({"retry-after": "Sun Nov  6 08:49:37 1994"}, now=now) == 37


@pytest.mark.parametrize("value", ["inf", "nan", "-inf"])
def test_non_finite_waits_are_ignored(value: str) -> None:
    assert parse_retry_after({"retry-after": value}) is None
    assert parse_retry_after({"retry-after-ms": value}) is None


# --- is_retryable for a request that is not idempotent (a create) ------------------------


@pytest.mark.parametrize(
    ("error", "retried"),
    [
        (APIConnectionError("refused", request_sent=False), True),  # never reached the server
        (APIConnectionError("reset mid-body", request_sent=True), False),  # it may have acted
        (APITimeoutError("connect timed out", request_sent=False), True),
        (APITimeoutError("no answer in time", request_sent=True), False),
        (status_error(429), True),  # refused before acting
        (status_error(503), False),
        (status_error(500), False),
        (status_error(408), False),
        (status_error(409), False),
        (status_error(400), False),
    ],
)
def test_a_create_is_retried_only_when_the_server_cannot_have_acted(
    error: APIError, retried: bool
) -> None:
    assert is_retryable(error, idempotent=False) is retried
    if isinstance(error, APIConnectionError) or error.status_code in RETRYABLE_STATUSES | {
        500,
        503,
    }:
        assert is_retryable(error, idempotent=True) is True  # a read is retried in each case

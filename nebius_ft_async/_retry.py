"""Retry policy: what is worth another try, and how long to wait first. Pure, no I/O."""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC
from email.utils import parsedate_to_datetime

import backoff

from ._errors import APIConnectionError, APIError, APIStatusError

RETRYABLE_STATUSES = frozenset({408, 409, 429})
"""Statuses retried besides every 5xx."""

Sleep = Callable[[float], Awaitable[object]]


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How a session retries failed requests.

    ``max_retries``: retries after the first attempt (so ``2`` means up to 3 requests).
    ``initial_wait`` doubles each retry up to ``max_wait`` (seconds), with jitter of up to
    a quarter below that. A server's ``Retry-After`` / ``retry-after-ms`` replaces that wait
    and is never shortened: jitter only lengthens it by up to 10%. A requested wait above
    ``max_retry_after`` is not slept; the error is raised at once with ``retry_after`` on it.
    ``sleep`` is what waits; tests swap it for one that records the waits and returns.
    """

    max_retries: int = 2
    initial_wait: float = 0.5
    max_wait: float = 8.0
    max_retry_after: float = 60.0
    sleep: Sleep = field(default=asyncio.sleep, compare=False)

    def schedule(self) -> Iterator[float]:
        """The exponential waits of one call, before jitter: 0.5, 1, 2, 4, 8, 8, ..."""
        waits = backoff.expo(base=2, factor=self.initial_wait, max_value=self.max_wait)
        next(waits)  # backoff's generators are primed with one throw-away step
        return waits


def is_retryable(error: APIError, *, idempotent: bool = True) -> bool:
    """Connection problems and timeouts, 408, 409, 429 and 5xx are worth another try.

    A request that is not idempotent (one that creates something) is retried only when the
    server cannot have acted on it: the connection failed before it was sent, or a 429.
    """
    if isinstance(error, APIConnectionError):
        return idempotent or not error.request_sent
    if isinstance(error, APIStatusError):
        if not idempotent:
            return error.status_code == 429
        return error.status_code in RETRYABLE_STATUSES or error.status_code >= 500
    return False


def parse_retry_after(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """Seconds the server asked to wait, from ``retry-after-ms`` or ``Retry-After``.

    ``Retry-After`` may be a number of seconds or an HTTP date. Returns ``None`` when no
    usable value is present; a date in the past gives ``0``.
    """
    milliseconds = headers.get("retry-after-ms")
    if milliseconds is not None:
        try:
            value = float(milliseconds) / 1000
        except ValueError:
            value = -1
        if 0 <= value < math.inf:
            return value
    raw = headers.get("retry-after")
    if raw is None:
        return None
    raw = raw.strip()
    try:
        seconds = float(raw)
    except ValueError:
        try:
            when = parsedate_to_datetime(raw)
            if when.tzinfo is None:  # asctime dates carry no zone; HTTP dates are always GMT
                when = when.replace(tzinfo=UTC)
            seconds = when.timestamp() - (time.time() if now is None else now)
        except (TypeError, ValueError, OverflowError, OSError):  # not a date, or an absurd one
            return None
        return max(seconds, 0.0) if math.isfinite(seconds) else None
    return seconds + 0.0 if 0 <= seconds < math.inf else None  # + 0.0: "-0" is 0


def wait_before_retry(
    exponential_wait: float, retry_after: float | None, rng: random.Random | None = None
) -> float:
    """The wait before the next attempt: the server's ask if any, else the jittered backoff."""
    draw = (rng or random).random()
    if retry_after is not None:
        return retry_after * (1 + 0.1 * draw)
    return exponential_wait * (1 - 0.25 * draw)

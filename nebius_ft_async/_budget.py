"""The request budget: how fast one session may send, learned from what the server allows.

Every request of an ``AsyncSession`` (a monitor's polls, ``follow_events``, the user's own
calls, each retry) first asks the session's budget for a turn with ``acquire`` and then tells
it what the server answered with ``record``. ``RequestBudget`` is that interface, so another
budget (one shared between processes, say) can be supplied; ``AdaptiveBudget`` is the default.
No HTTP here: the budget sees statuses and headers only.
"""

from __future__ import annotations

import asyncio
import math
import random
import re
import time
from collections.abc import Callable, Mapping
from typing import NamedTuple, Protocol, runtime_checkable

from ._checks import positive_rate, positive_seconds
from ._retry import Sleep, parse_retry_after

DEFAULT_MAX_PAUSE = 60.0
"""Longest server-ordered pause a request waits out; while more is left, requests are
refused at once."""
DEFAULT_MIN_RATE = 0.2
"""Slowest pace (requests per second) the adaptive budget falls to after repeated 429s."""

_GROWTH_EVERY = 1.0
_WINDOW = 2.0
_FAST_GROWTH = 1.2
_SLOW_GROWTH = 1.02
_NEAR_LIMIT = 0.9
_PAST_LIMIT = 1.25
_MIN_SAMPLE = 8
_SHORTEST_SPAN = 0.25
_DECREASE = 0.9
_PAUSE_JITTER = 0.1
_EPOCH_2001 = 1e9
_LONGEST_RESET = 86400.0
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
HEADER_PACE_SHARE = 0.9
"""Once the ``x-ratelimit-*`` headers say fewer than half the requests remain, requests are
paced at this share of the refill rate they show: the rate is estimated from a count rounded
down and a reset rounded off, a few percent either way, and a pace even slightly above the
true refill empties the server's bucket on a long burst."""


@runtime_checkable
class RequestBudget(Protocol):
    """What a session asks before every request, and tells after every answer.

    Times are event-loop times (``asyncio.get_running_loop().time()``).
    """

    async def acquire(self, deadline: float | None) -> float | None:
        """Wait for this request's turn and return ``None``; the request is then sent.

        If its turn cannot come by ``deadline`` (or the server asked for a pause longer than
        the budget waits out), return at once the seconds until it could, without taking a
        turn: the request is then not sent and the call fails with a ``RateLimitError`` whose
        ``retry_after`` is that number.
        """
        ...

    def record(self, status: int, headers: Mapping[str, str]) -> None:
        """Learn from an answer's status and headers.

        A ``429`` with ``Retry-After`` must hold every later ``acquire`` at least that long:
        the session does not wait on its own before retrying such a request.
        """
        ...


class AdaptiveBudget:
    """The default budget: free until the server pushes back, then paced at what it grants.

    ::

        session = AsyncSession(budget=AdaptiveBudget(rate=20))   # start at 20 requests/s

    - ``rate``: requests per second to start with; ``None`` (the default) sends as fast as
      asked until the first ``429``.
    - A ``429`` holds every request until its ``Retry-After`` has passed (plus up to 10%
      jitter), and lowers the pace to 90% of the rate the server refills (from the
      ``x-ratelimit-*`` headers) or else granted over the last few seconds (counted from 8
      answers on: fewer say nothing of the server's limit), at most once per pause.
    - ``x-ratelimit-remaining-requests`` / ``-limit-requests`` / ``-reset-requests`` (or the
      same without ``-requests``): once fewer than half the requests remain, requests are
      paced at 90% of the rate the server refills, ``(limit - remaining) / reset`` (a whole
      ``remaining`` is taken as the count rounded down, so half a request is added to it).
    - Each second without a ``429`` the pace grows by 20%, by 2% while it is between 90%
      and 125% of the rate at which the last ``429`` came (probing carefully near a limit,
      quickly again once past it); it never falls below ``min_rate``.
    - A server-ordered pause is not waited out while more than ``max_pause`` of it is left:
      requests are refused at once until then.
    - ``sleep`` waits (tests swap it, as in ``RetryPolicy``); a session built without a
      budget makes one with its retry policy's ``sleep`` and ``max_retry_after``.
    """

    def __init__(
        self,
        *,
        rate: float | None = None,
        min_rate: float = DEFAULT_MIN_RATE,
        max_pause: float = DEFAULT_MAX_PAUSE,
        sleep: Sleep = asyncio.sleep,
        clock: Callable[[], float] | None = None,
    ) -> None:
        if rate is not None:
            positive_rate("rate", rate)
        self.min_rate = positive_rate("min_rate", min_rate)
        self.max_pause = positive_seconds("max_pause", max_pause)
        self._sleep = sleep
        self._clock = clock
        self._learned_rate = rate
        self._header_rate: float | None = None
        self._server_refill: float | None = None  # from x-ratelimit headers, when sent
        self._rate = rate  # the pace in force: the lower of the two; None for no pace
        self._free = rate is None  # no pace and no pause: a turn needs no look at the clock
        self._next_turn = 0.0
        self._paused_until = 0.0
        self._pauses = 0  # bumped when a pause starts: sleepers queue again behind it
        self._limited_at_rate: float | None = None
        self._cooldown_until = 0.0
        self._next_growth = 0.0
        self._window_start: float | None = None
        self._granted = 0
        self._previous_window = 0

    def __repr__(self) -> str:
        pace = "unpaced" if self._rate is None else f"{self._rate:.3g} requests/s"
        return f"<AdaptiveBudget {pace}>"

    @property
    def rate(self) -> float | None:
        """The pace in force, in requests per second; ``None`` while unpaced."""
        return self._rate

    @property
    def paused_until(self) -> float:
        """The loop time before which no request is sent (a server's ``Retry-After``)."""
        return self._paused_until

    def _now(self) -> float:
        return self._clock() if self._clock is not None else asyncio.get_running_loop().time()

    async def acquire(self, deadline: float | None) -> float | None:
        """Wait for a turn: at once while unpaced, else paced and behind any pause."""
        if self._free:
            return None
        now = self._now()
        if self._rate is None and now >= self._paused_until:
            self._free = True
            return None
        while True:
            turn = max(now, self._paused_until, self._next_turn)
            wait = turn - now
            if wait > 0 and (
                (deadline is not None and turn > deadline)
                or self._paused_until - now > self.max_pause
            ):
                return wait
            if self._rate is not None:
                self._next_turn = turn + 1 / self._rate
            if wait <= 0:
                return None
            pauses = self._pauses
            await self._sleep(wait)
            if pauses == self._pauses:
                return None
            now = self._now()  # a pause began while this request waited: queue behind it

    def record(self, status: int, headers: Mapping[str, str]) -> None:
        """Learn from an answer: 429s slow the pace, other answers let it grow back."""
        clock = self._clock  # as _now(), without a call: this runs on every answer
        now = clock() if clock is not None else asyncio.get_running_loop().time()
        if "x-ratelimit-remaining-requests" in headers or "x-ratelimit-remaining" in headers:
            self._read_limit_headers(server_refill(headers), now)
        if status == 429:
            self._limited(now, parse_retry_after(headers))
        elif (
            self._window_start is not None
            and now - self._window_start < _WINDOW
            and (self._learned_rate is None or now < self._next_growth)
        ):
            self._granted += 1  # the common case of _granted_one: a window open, no growth due
        else:
            self._granted_one(now)

    def _granted_one(self, now: float) -> None:
        """Count an answer that was not a 429 (in windows of two seconds), and let the pace
        grow once a second."""
        if self._window_start is None:
            self._window_start = now
        elif now - self._window_start >= _WINDOW:
            recent = now - self._window_start < 2 * _WINDOW
            self._previous_window = self._granted if recent else 0
            self._window_start, self._granted = now, 0
        self._granted += 1
        if self._learned_rate is not None and now >= self._next_growth:
            limit = self._limited_at_rate
            near_limit = (
                limit is not None
                and _NEAR_LIMIT * limit <= self._learned_rate < _PAST_LIMIT * limit
            )
            self._learned_rate *= _SLOW_GROWTH if near_limit else _FAST_GROWTH
            self._next_growth = now + _GROWTH_EVERY
            self._update_rate()

    def _limited(self, now: float, retry_after: float | None) -> None:
        if retry_after is not None:
            until = now + retry_after * (1 + _PAUSE_JITTER * random.random())
            if until > self._paused_until:
                self._paused_until = until
                self._pauses += 1
                self._free = False
        if now < self._cooldown_until:
            return  # answers to requests sent before the last slow-down
        granted = self._server_refill or self._granted_rate(now)
        if granted is not None:
            self._limited_at_rate = granted
            target = _DECREASE * granted
        elif self._learned_rate is not None:
            target = self._learned_rate / 2
        else:
            target = None
        if target is not None:
            current = self._learned_rate
            self._learned_rate = max(
                self.min_rate, target if current is None else min(current * _DECREASE, target)
            )
            self._update_rate()
        resume = max(now, self._paused_until)
        self._cooldown_until = resume + _GROWTH_EVERY
        self._next_growth = resume + _GROWTH_EVERY
        self._window_start, self._granted, self._previous_window = resume, 0, 0

    def _granted_rate(self, now: float) -> float | None:
        """Answers (not 429) per second over the last two to four seconds (counted over at
        least a quarter second); ``None`` without any."""
        if self._window_start is None:
            return None
        elapsed = now - self._window_start
        if elapsed >= 2 * _WINDOW:
            return None
        granted = self._granted + self._previous_window
        if granted < _MIN_SAMPLE:  # too few to say what the server grants
            return None
        span = elapsed + _WINDOW if self._previous_window else max(elapsed, _SHORTEST_SPAN)
        return granted / span

    def _read_limit_headers(self, reading: RefillReading | None, now: float) -> None:
        if reading is None:  # a full quota, or nothing readable: no pace from the headers
            if self._header_rate is not None:
                self._header_rate = None
                self._update_rate()
            return
        refill = max(reading.refill, self.min_rate)
        self._server_refill = refill
        self._header_rate = max(HEADER_PACE_SHARE * refill, self.min_rate) if reading.low else None
        self._update_rate()
        if reading.exhausted:
            self._next_turn = max(self._next_turn, now + 1 / refill)

    def _update_rate(self) -> None:
        rates = [r for r in (self._learned_rate, self._header_rate) if r is not None]
        self._rate = min(rates) if rates else None
        if self._rate is not None:
            self._free = False


class RefillReading(NamedTuple):
    """What an answer's ``x-ratelimit-*`` headers say of the key's quota."""

    refill: float
    """Requests a second the server gives back: ``(limit - remaining) / reset``."""
    low: bool
    """Fewer than half the requests remain."""
    exhausted: bool
    """None remain."""


def server_refill(headers: Mapping[str, str]) -> RefillReading | None:
    """The quota as ``x-ratelimit-limit``/``-remaining``/``-reset`` (with or without the
    ``-requests`` suffix) tell it; ``None`` without them, with a full quota, or with values
    that cannot be read (a reset further off than a day is not believed: milliseconds, say).

    A whole ``remaining`` is a count rounded down, so half a request is added to it; a reset
    past the year 2001 in seconds is a time of day, not a duration.
    """
    remaining_text = headers.get("x-ratelimit-remaining-requests")
    if remaining_text is None:
        remaining_text = headers.get("x-ratelimit-remaining")
    limit_text = headers.get("x-ratelimit-limit-requests") or headers.get("x-ratelimit-limit")
    reset_text = headers.get("x-ratelimit-reset-requests") or headers.get("x-ratelimit-reset")
    if remaining_text is None or limit_text is None or reset_text is None:
        return None
    try:
        remaining, limit = float(remaining_text), float(limit_text)
    except ValueError:
        return None
    if not (math.isfinite(remaining) and math.isfinite(limit)) or limit <= 0:
        return None
    reset = parse_duration(reset_text)
    if reset is not None and reset > _EPOCH_2001:
        reset -= time.time()
    if reset is None or not 0 < reset <= _LONGEST_RESET or remaining >= limit:
        return None
    exhausted = remaining <= 0
    if remaining == int(remaining):
        remaining += 0.5  # a whole number is the count rounded down: take the middle
    return RefillReading((limit - remaining) / reset, remaining < limit / 2, exhausted)


def parse_duration(text: str) -> float | None:
    """Seconds in an ``x-ratelimit-reset`` value: ``"1.5"``, ``"20ms"``, ``"1s"``, ``"6m0s"``,
    ``"1h2m3s"``; ``None`` if it is none of these."""
    text = text.strip()
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        return seconds if math.isfinite(seconds) else None
    parts = _DURATION_PART.findall(text)
    if not parts or "".join(number + unit for number, unit in parts) != text:
        return None
    scale = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
    return sum(float(number) * scale[unit] for number, unit in parts)

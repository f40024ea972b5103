"""RedisBudget: one request budget shared through Redis by every process using one API key.

The shared state is one Redis hash per budget name, changed only by two Lua scripts, so each
turn is one atomic round trip however many processes ask at once:

- ``tat``: the token bucket, kept as GCRA (the generic cell rate algorithm, a token bucket
  written as one time): the theoretical arrival time of the next request. A request asked
  for at ``now`` goes at ``max(tat, now) - (burst - 1) / rate`` (or at once if that is
  past), and moves ``tat`` on by ``1 / rate``. A request that would go later than its
  deadline allows is refused and takes nothing. Otherwise its turn is booked: the process
  waits for it locally, and requests are served in the order they asked.
- ``pause``: the end of a server-ordered pause (a 429's ``Retry-After``, plus up to 10%
  jitter). No turn is given before it.
- ``rate``, ``grow_from``, ``limited_at``: the pace learned from the server, as
  ``AdaptiveBudget`` learns it: a 429 lowers it to 90% of the rate the server refills
  (``x-ratelimit-*`` headers) or else of the pace in force, at most once per pause; headers
  saying fewer than half the requests remain lower it to 90% of the refill rate; from
  ``grow_from`` it grows back 20% a second, 2% once within 90% of ``limited_at`` (where the last 429
  came). The pace never exceeds ``rate=`` and never falls below ``min_rate``.

Times are Redis's own (``TIME``), so the processes' clocks need not agree. The hash expires
an hour after its last use.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Mapping

from redis.asyncio import Redis

from ._budget import (
    DEFAULT_MAX_PAUSE,
    DEFAULT_MIN_RATE,
    HEADER_PACE_SHARE,
    AdaptiveBudget,
    server_refill,
)
from ._checks import positive_count, positive_rate, positive_seconds
from ._redis_link import (
    DEFAULT_PREFIX,
    DEFAULT_REDIS_TIMEOUT,
    DEFAULT_RETRY_EVERY,
    REDIS_DOWN,
    PastDeadline,
    RedisLink,
    key_base,
)
from ._retry import Sleep, parse_retry_after

_PAUSE_JITTER = 0.1
_TOO_LATE = 0.001
"""The wait a turn is refused with when its deadline passed while Redis was asked."""

_PACE = """
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
end
-- the pace in force (requests/s): the learned rate grown since grow_from, at most the
-- ceiling; nil while unpaced
local function pace(rate, grow_from, limited_at, now, ceiling)
  rate = tonumber(rate)
  if rate then
    local t = (now - (tonumber(grow_from) or now)) / 1000
    if t > 0 then
      local knee = 0.9 * (tonumber(limited_at) or math.huge)
      if rate < knee then
        local to_knee = math.log(knee / rate) / math.log(1.2)
        if t <= to_knee then
          rate, t = rate * 1.2 ^ t, 0
        else
          rate, t = knee, t - to_knee
        end
      end
      rate = rate * 1.02 ^ t
    end
    if rate > 1e6 then rate = nil end
  end
  if ceiling > 0 and (rate == nil or rate > ceiling) then rate = ceiling end
  return rate
end
"""

# KEYS[1]: the state hash. ARGV: ceiling (0: none), burst, max wait in ms (-1: none), max
# pause in ms. Returns {refused (0/1), wait in ms, pace in force (0: unpaced)}.
_ACQUIRE = (
    _PACE
    + """
local now = now_ms()
local v = redis.call('HMGET', KEYS[1], 'tat', 'rate', 'grow_from', 'limited_at', 'pause')
local ceiling, burst = tonumber(ARGV[1]), tonumber(ARGV[2])
local max_wait, max_pause = tonumber(ARGV[3]), tonumber(ARGV[4])
local rate = pace(v[2], v[3], v[4], now, ceiling)
local pause = tonumber(v[5]) or 0
if pause - now > max_pause then
  return {1, tostring(pause - now), tostring(rate or 0)}
end
local go = math.max(now, pause)
local tat
if rate then
  local interval = 1000 / rate
  tat = math.max(tonumber(v[1]) or 0, go) + interval
  go = math.max(go, tat - burst * interval)
end
local wait = go - now
if max_wait >= 0 and wait > 0 and wait > max_wait then
  return {1, tostring(wait), tostring(rate or 0)}
end
if tat then
  redis.call('HSET', KEYS[1], 'tat', tostring(tat))
  redis.call('PEXPIRE', KEYS[1], 3600000)
end
return {0, tostring(wait), tostring(rate or 0)}
"""
)

# KEYS[1]: the state hash. ARGV: Retry-After in ms (-1: none), the server's refill rate (-1:
# unknown), 1 for a 429 else 0, min rate, ceiling (0: none), jitter factor. Returns the pace.
_RECORD = (
    _PACE
    + """
local now = now_ms()
local v = redis.call('HMGET', KEYS[1], 'tat', 'rate', 'grow_from', 'limited_at', 'pause', 'cool')
local retry_after, refill = tonumber(ARGV[1]), tonumber(ARGV[2])
local limited, min_rate = ARGV[3] == '1', tonumber(ARGV[4])
local ceiling, jitter = tonumber(ARGV[5]), tonumber(ARGV[6])
local rate = pace(v[2], v[3], v[4], now, ceiling)
local pause = tonumber(v[5]) or 0
if retry_after >= 0 and now + retry_after * jitter > pause then
  pause = now + retry_after * jitter
  redis.call('HSET', KEYS[1], 'pause', tostring(pause))
end
local resume = math.max(now, pause)
if limited then
  local base = rate
  if refill > 0 then base = refill end
  if base and now >= (tonumber(v[6]) or 0) then
    local new = 0.9 * base
    if rate then new = math.min(new, 0.9 * rate) end
    new = math.max(new, min_rate)
    local tat = math.max(tonumber(v[1]) or 0, resume)
    redis.call('HSET', KEYS[1], 'rate', tostring(new), 'limited_at', tostring(base),
      'grow_from', tostring(resume + 1000), 'cool', tostring(resume + 1000),
      'tat', tostring(tat))
    rate = new
  end
elseif refill > 0 and (rate == nil or refill < rate) then
  rate = math.max(refill, min_rate)
  redis.call('HSET', KEYS[1], 'rate', tostring(rate), 'limited_at', tostring(rate),
    'grow_from', tostring(now + 1000))
end
redis.call('PEXPIRE', KEYS[1], 3600000)
return tostring(rate or 0)
"""
)

# KEYS[1]: the state hash. Returns the ms left of the pause in force (0 or less: none).
_PAUSE_LEFT = (
    _PACE
    + """
return tostring((tonumber(redis.call('HGET', KEYS[1], 'pause')) or 0) - now_ms())
"""
)


class RedisBudget:
    """A ``RequestBudget`` shared through Redis: every process that builds one with the same
    ``name`` (and Redis) draws on one budget, so together they stay within one API key's
    rate and slow down together when the server answers 429.

    ::

        from redis.asyncio import Redis
        from nebius_ft_async import AsyncSession
        from nebius_ft_async.redis import RedisBudget

        budget = RedisBudget(Redis(), name="team-key", rate=20)
        async with AsyncSession(budget=budget) as session:
            ...
        await budget.aclose()

    - ``rate``: the most requests per second all processes together send (``None``: no
      limit but what the server teaches); ``burst``: how many may go at once after a quiet
      spell (default 1: evenly paced).
    - A 429 recorded by any process pauses every process for its ``Retry-After`` and lowers
      the shared pace; ``x-ratelimit-*`` headers saying fewer than half the requests remain
      pace them all at 90% of the server's refill rate. The pace grows back as
      ``AdaptiveBudget``'s does, never below ``min_rate``; pauses longer than ``max_pause``
      are refused at once.
    - Each turn is one Redis round trip (a second one only for a turn that had to wait, to
      see whether a pause began meanwhile); a ``record`` goes to Redis only when it teaches
      something (a 429, or a lower refill rate), in the background.
    - A turn keeps its deadline even while Redis is slow to answer: a turn whose deadline
      comes first is refused at it, and Redis is not taken as unreachable for that.
    - If Redis cannot be reached within ``redis_timeout`` seconds, requests draw on
      ``fallback`` (an ``AdaptiveBudget`` of this process, which is told every answer all
      along, so it knows the pace) and Redis is tried again every ``retry_every`` seconds;
      both changes are logged once.

    Call ``await budget.aclose()`` when done: it waits for records still on their way.
    """

    def __init__(
        self,
        redis: Redis,
        *,
        name: str = "default",
        rate: float | None = None,
        burst: int = 1,
        min_rate: float = DEFAULT_MIN_RATE,
        max_pause: float = DEFAULT_MAX_PAUSE,
        fallback: AdaptiveBudget | None = None,
        prefix: str = DEFAULT_PREFIX,
        redis_timeout: float = DEFAULT_REDIS_TIMEOUT,
        retry_every: float = DEFAULT_RETRY_EVERY,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self._ceiling = 0.0 if rate is None else positive_rate("rate", rate)
        self._burst = positive_count("burst", burst)
        self.min_rate = positive_rate("min_rate", min_rate)
        self.max_pause = positive_seconds("max_pause", max_pause)
        self.name = name
        self._key = key_base(prefix, name) + ":budget"
        self._redis = redis
        self.fallback = fallback or AdaptiveBudget(
            rate=rate, min_rate=min_rate, max_pause=max_pause, sleep=sleep
        )
        self._link = RedisLink("request budget", redis_timeout, retry_every)
        self._sleep = sleep
        self._acquire = redis.register_script(_ACQUIRE)
        self._record = redis.register_script(_RECORD)
        self._pause_left = redis.register_script(_PAUSE_LEFT)
        self._telling: set[asyncio.Task[None]] = set()
        self.rate: float | None = rate
        """The shared pace last seen, in requests per second; ``None`` while unpaced."""

    def __repr__(self) -> str:
        pace = "unpaced" if self.rate is None else f"{self.rate:.3g} requests/s"
        where = "local fallback" if self._link.down else "shared"
        return f"<RedisBudget {self.name!r} {pace}, {where}>"

    @property
    def shared(self) -> bool:
        """False while Redis is unreachable and the local ``fallback`` is drawn on."""
        return not self._link.down

    async def acquire(self, deadline: float | None) -> float | None:
        """Wait for a turn from the shared budget (from ``fallback`` while Redis is away)."""
        if self._link.usable():
            try:
                return await self._shared_turn(deadline)
            except PastDeadline:
                return _TOO_LATE  # Redis did not answer before the call's deadline
            except REDIS_DOWN:
                pass  # the link logged it: this turn comes from the fallback
        return await self.fallback.acquire(deadline)

    async def _shared_turn(self, deadline: float | None) -> float | None:
        loop = asyncio.get_running_loop()
        # a 429 this process saw holds it back at once, before Redis has heard of it
        local_pause = self.fallback.paused_until - loop.time()
        if local_pause > 0:
            if local_pause > self.max_pause or (
                deadline is not None and loop.time() + local_pause > deadline
            ):
                return local_pause
            await self._sleep(local_pause)
        max_wait = -1.0 if deadline is None else max(0.0, deadline - loop.time()) * 1000
        answer = await self._link.call(
            self._acquire(
                keys=[self._key],
                args=[self._ceiling, self._burst, max_wait, self.max_pause * 1000],
            ),
            deadline,
        )
        refused, wait_ms, pace = int(answer[0]), float(answer[1]), float(answer[2])
        self.rate = pace or None
        wait = wait_ms / 1000
        if refused:
            return max(wait, _TOO_LATE)
        while wait > 0:
            await self._sleep(wait)
            # another process's 429 may have begun a pause while this turn waited
            left = await self._link.call(self._pause_left(keys=[self._key]), deadline)
            wait = float(left) / 1000
            if wait > self.max_pause or (deadline is not None and loop.time() + wait > deadline):
                return wait
        return None

    def record(self, status: int, headers: Mapping[str, str]) -> None:
        """Tell the fallback every answer; tell Redis a 429, or a lower server refill rate."""
        self.fallback.record(status, headers)
        if self._link.down:
            return
        reading = server_refill(headers)
        if status == 429:
            refill = None if reading is None else reading.refill
            told = self._tell(True, parse_retry_after(headers), refill)
        elif reading is not None and reading.low:
            pace = HEADER_PACE_SHARE * reading.refill
            if self.rate is not None and pace >= self.rate:
                return
            told = self._tell(False, None, pace)
        else:
            return
        task = asyncio.get_running_loop().create_task(told)
        self._telling.add(task)
        task.add_done_callback(self._telling.discard)

    async def _tell(self, limited: bool, retry_after: float | None, refill: float | None) -> None:
        args = [
            -1 if retry_after is None else retry_after * 1000,
            -1 if refill is None else refill,
            1 if limited else 0,
            self.min_rate,
            self._ceiling,
            1 + _PAUSE_JITTER * random.random(),
        ]
        try:
            pace = await self._link.call(self._record(keys=[self._key], args=args))
        except REDIS_DOWN:
            return  # the link logged it; the fallback has heard this answer already
        self.rate = float(pace) or None

    async def aclose(self) -> None:
        """Wait for the records still on their way to Redis."""
        await asyncio.gather(*self._telling, return_exceptions=True)

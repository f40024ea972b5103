"""What the Redis-backed parts share: which failures mean "Redis is not there", one call with
a time limit, and the state of a link that falls back while Redis is away (logged once)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from typing import TypeVar

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from ._checks import positive_seconds

log = logging.getLogger("nebius_ft_async")

DEFAULT_PREFIX = "nebius-ft"
"""What every Redis key this library writes starts with."""
DEFAULT_REDIS_TIMEOUT = 1.0
"""Longest wait for one Redis call before Redis is taken as unreachable."""
DEFAULT_RETRY_EVERY = 1.0
"""While Redis is unreachable, how often it is tried again."""

REDIS_DOWN: tuple[type[BaseException], ...] = (
    RedisConnectionError,  # refused, reset, still loading its data after a restart
    RedisTimeoutError,
    TimeoutError,
    OSError,
)
"""Failures that mean Redis cannot be reached now (rather than a mistake in a command)."""

_T = TypeVar("_T")


def key_base(prefix: str, name: str) -> str:
    """``prefix:{name}``: the braces keep one name's keys in one Redis Cluster slot."""
    if not isinstance(prefix, str) or not prefix:
        raise ValueError(f"prefix must be a non-empty string, got {prefix!r}")
    if not isinstance(name, str) or not name or "{" in name or "}" in name:
        raise ValueError(f"name must be a non-empty string without braces, got {name!r}")
    return f"{prefix}:{{{name}}}"


class PastDeadline(Exception):
    """A Redis call not answered by the caller's deadline (internal: never raised to users)."""


class RedisLink:
    """Whether Redis answered last time, and when to try it again if it did not.

    ``what`` names the part (for the log): going down and coming back are logged once each.
    """

    def __init__(self, what: str, redis_timeout: float, retry_every: float) -> None:
        self.what = what
        self.timeout = positive_seconds("redis_timeout", redis_timeout)
        self.retry_every = positive_seconds("retry_every", retry_every)
        self.down = False
        self._retry_at = 0.0

    def usable(self) -> bool:
        """True while Redis is up, or when it is time to try it again."""
        return not self.down or asyncio.get_running_loop().time() >= self._retry_at

    async def call(self, awaitable: Awaitable[_T], deadline: float | None = None) -> _T:
        """Await one Redis call within the link's timeout (and by ``deadline``, a loop time,
        if that comes first); note whether Redis answered.

        Raises what the call raised: one of ``REDIS_DOWN`` when Redis is not there, and
        ``PastDeadline`` when ``deadline`` came before the answer (Redis is not blamed).
        """
        loop = asyncio.get_running_loop()
        give_up = loop.time() + self.timeout
        by_deadline = deadline is not None and deadline < give_up
        if deadline is not None and by_deadline:
            give_up = deadline
        try:
            async with asyncio.timeout_at(give_up):
                result = await awaitable
        except REDIS_DOWN as error:
            if by_deadline and isinstance(error, TimeoutError):
                raise PastDeadline from None
            self.failed(error)
            raise
        self.answered()
        return result

    def failed(self, error: BaseException) -> None:
        self._retry_at = asyncio.get_running_loop().time() + self.retry_every
        if not self.down:
            self.down = True
            log.warning(
                "Redis unreachable (%s): the %s goes on in this process alone until it is back",
                type(error).__name__,
                self.what,
            )

    def answered(self) -> None:
        if self.down:
            self.down = False
            log.warning("Redis is back: the %s is shared again", self.what)

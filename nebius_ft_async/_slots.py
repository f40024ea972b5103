"""Connection slots: at most N requests in flight, the rest waiting first come, first served.

Like ``asyncio.Semaphore``, with a take that costs no coroutine when a slot is free (the
common case on the request path) and a wait bounded by a deadline in loop time.
"""

import asyncio
from collections import deque
from contextlib import suppress


class Slots:
    """``size`` slots; ``try_take`` or ``take`` one, then ``give_back`` it exactly once."""

    def __init__(self, size: int) -> None:
        self._free = size
        self._waiters: deque[asyncio.Future[None]] = deque()

    def try_take(self) -> bool:
        """Take a free slot if one is there and nobody is queued for it."""
        if self._free and not self._waiters:
            self._free -= 1
            return True
        return False

    async def take(self, deadline: float | None) -> None:
        """Wait for a slot, in turn; ``TimeoutError`` if none came by ``deadline``."""
        if self.try_take():
            return
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            async with asyncio.timeout_at(deadline):
                await waiter
        except BaseException:
            if waiter.done() and not waiter.cancelled():
                self.give_back()  # handed a slot just as the wait ended: pass it on
            else:
                with suppress(ValueError):  # already passed over by give_back
                    self._waiters.remove(waiter)
            raise

    def give_back(self) -> None:
        """Free a slot, or hand it straight to the first one still waiting."""
        waiters = self._waiters
        while waiters:
            waiter = waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
        self._free += 1

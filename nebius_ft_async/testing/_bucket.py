"""The token bucket in front of the fake's API, and the rate headers it gives."""

from __future__ import annotations

import math


class Bucket:
    """A token bucket: ``size`` tokens, refilled at ``rate`` a second, full at first."""

    def __init__(self, size: int, now: float) -> None:
        self.tokens = float(size)
        self.updated = now

    def take(self, rate: float, size: int, now: float) -> float:
        """Take a token and return 0, or return the seconds until one is there."""
        self.tokens = min(float(size), self.tokens + (now - self.updated) * rate)
        self.updated = now
        if self.tokens >= 1 - 1e-9:  # float slack: waiting the wait we gave always works
            self.tokens = max(0.0, self.tokens - 1)
            return 0.0
        return (1 - self.tokens) / rate

    def headers(self, rate: float, size: int) -> dict[str, str]:
        return {
            "x-ratelimit-limit-requests": str(size),
            "x-ratelimit-remaining-requests": str(int(self.tokens)),
            "x-ratelimit-reset-requests": _seconds((size - self.tokens) / rate),
        }


def _seconds(value: float) -> str:
    """A duration the OpenAI way, in seconds rounded up to the millisecond: ``1.5s``, ``0s``."""
    return f"{math.ceil(value * 1000) / 1000:.3f}".rstrip("0").rstrip(".") + "s"

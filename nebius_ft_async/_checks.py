"""Checks of the numbers users pass in (intervals, timeouts, counts). Pure, no I/O."""

from __future__ import annotations

import math

MIN_POLL_INTERVAL = 1.0
"""The shortest poll interval the polling helpers accept against a remote API."""
LOOPBACK_MIN_POLL_INTERVAL = 0.001
"""The shortest poll interval against a server on this machine (tests, the fake)."""


def positive_seconds(name: str, value: float, *, at_least: float = 0.0) -> float:
    """``value`` as a float if it is a finite number of seconds above zero (and at least
    ``at_least``); else ``ValueError`` naming ``name``."""
    seconds = _finite_positive(name, value, "seconds")
    if seconds < at_least:
        raise ValueError(f"{name} must be at least {at_least:g} s, got {value!r}")
    return seconds


def optional_timeout(name: str, value: float | None) -> float | None:
    """``None`` (no timeout) or a finite number of seconds above zero."""
    return None if value is None else positive_seconds(name, value)


def positive_count(name: str, value: int, *, at_least: int = 1) -> int:
    """``value`` if it is a whole number of at least ``at_least`` (1 unless told); else
    ``ValueError`` naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < at_least:
        raise ValueError(f"{name} must be a whole number of at least {at_least}, got {value!r}")
    return value


def positive_rate(name: str, value: float) -> float:
    """``value`` if it is a finite number of requests per second above zero."""
    return _finite_positive(name, value, "requests per second")


def _finite_positive(name: str, value: float, unit: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{name} must be a number of {unit}, got {value!r}")
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a finite number of {unit} above 0, got {value!r}")
    return float(value)

"""Callbacks on the request path: a request sent, an answer received, a retry scheduled.

Hooks are plain functions called in line (keep them quick: they run on every request). What
they get names the route's template (``/v1/fine_tuning/jobs/{job_id}``), never a header or
the key. A hook that raises is logged and otherwise ignored: counting requests must never
break them. A ``request_sent`` hook may add headers to its request (trace context, such as
``traceparent``) through ``RequestEvent.headers``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

log = logging.getLogger("nebius_ft_async")


class RequestEvent:
    """One request about to go on the wire (each attempt, each redirect hop)."""

    __slots__ = ("attempt", "headers", "method", "origin", "path", "route", "started", "state")

    def __init__(
        self, method: str, route: str, path: str, origin: str, attempt: int, started: float
    ) -> None:
        self.method = method
        self.route = route
        """The route's template, such as ``/v1/fine_tuning/jobs/{job_id}``."""
        self.path = path
        """The path requested, ids and query included."""
        self.origin = origin
        """Scheme, host and port of the API, such as ``https://api.tokenfactory.nebius.com``."""
        self.attempt = attempt
        """1 for the first attempt of a call, 2 for its first retry, and so on."""
        self.started = started
        """Loop time when it was sent."""
        self.state: dict[str, Any] = {}
        """Free for hooks to keep what they need until the answer (a span, say)."""
        self.headers: dict[str, str] = {}
        """Headers a ``request_sent`` hook adds to this request (``traceparent``, say),
        checked like a call's ``extra_headers``: one the session sets itself
        (``Authorization``, ``Host``, ``Content-Length``) or that cannot be sent is left out,
        with a warning naming it."""

    def __repr__(self) -> str:
        return f"<RequestEvent {self.method} {self.path} attempt {self.attempt}>"


class ResponseEvent:
    """How a request ended: an answer (``status``) or a failure with none (``error``)."""

    __slots__ = ("elapsed", "error", "request", "request_id", "status")

    def __init__(
        self,
        request: RequestEvent,
        status: int | None,
        error: str | None,
        elapsed: float,
        request_id: str | None,
    ) -> None:
        self.request = request
        self.status = status
        """The HTTP status; ``None`` when no answer came (a timeout, a broken connection)."""
        self.error = error
        """Why the request failed, if it did: the error's class name (``APITimeoutError``),
        or the status as text for an answer of 400 and above."""
        self.elapsed = elapsed
        """Seconds from sending to the whole answer read (or the failure)."""
        self.request_id = request_id

    def __repr__(self) -> str:
        return f"<ResponseEvent {self.status or self.error} {self.request.path}>"


class RetryEvent:
    """A failed attempt that will be tried again after ``wait`` seconds."""

    __slots__ = ("attempt", "error", "method", "path", "route", "wait")

    def __init__(
        self, method: str, route: str, path: str, attempt: int, error: str, wait: float
    ) -> None:
        self.method = method
        self.route = route
        self.path = path
        self.attempt = attempt
        """The attempt that failed (the retry will be ``attempt + 1``)."""
        self.error = error
        """What failed: ``HTTP 503``, ``APIConnectionError``, ..."""
        self.wait = wait
        """Seconds before the retry (a 429's ``Retry-After`` is waited out in the budget)."""

    def __repr__(self) -> str:
        return f"<RetryEvent {self.method} {self.path} after {self.error}, wait {self.wait:.3g} s>"


@dataclass(frozen=True)
class Hooks:
    """Callbacks a session calls on its request path (any of them may be left out).

    ::

        sent = []
        session = AsyncSession(hooks=Hooks(request_sent=sent.append))
    """

    request_sent: Callable[[RequestEvent], object] | None = None
    response_received: Callable[[ResponseEvent], object] | None = None
    retry_scheduled: Callable[[RetryEvent], object] | None = None


class HookSet:
    """Several ``Hooks`` called in order, each failure logged and passed over."""

    __slots__ = ("_received", "_retried", "_sent")

    def __init__(self, hooks: Sequence[Hooks]) -> None:
        self._sent = [h.request_sent for h in hooks if h.request_sent is not None]
        self._received = [h.response_received for h in hooks if h.response_received is not None]
        self._retried = [h.retry_scheduled for h in hooks if h.retry_scheduled is not None]

    def sent(self, event: RequestEvent) -> None:
        _call_each(self._sent, event)

    def received(self, event: ResponseEvent) -> None:
        _call_each(self._received, event)

    def retried(self, event: RetryEvent) -> None:
        _call_each(self._retried, event)


def hook_set(hooks: Hooks | Sequence[Hooks] | None) -> HookSet | None:
    """The hooks to call, checked; ``None`` when there are none (the request path then
    spends nothing on them)."""
    if hooks is None:
        return None
    given = [hooks] if isinstance(hooks, Hooks) else list(hooks)
    for item in given:
        if not isinstance(item, Hooks):
            raise TypeError(f"hooks must be Hooks or a sequence of Hooks, got {item!r}")
    return HookSet(given) if given else None


def _call_each(callbacks: list[Callable[[Any], object]], event: object) -> None:
    for callback in callbacks:
        try:
            callback(event)
        except Exception:
            log.warning("a hook (%r) raised on %r; ignored", callback, event, exc_info=True)

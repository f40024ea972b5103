"""Tests of the session's own rules on a ``MockTransport``: scripted answers, no socket."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from nebius_ft_async import (
    APIConnectionError,
    AsyncSession,
    MockTransport,
    RetryPolicy,
    WireRequest,
    WireResponse,
)

from .conftest import API_KEY, RecordedSleeps

LOOPBACK = "http://127.0.0.1:9"
"""A base URL for mock sessions that poll: a loopback API allows the fast poll intervals of
tests (a remote one wants at least 1 s); no request goes there."""

Reply = Callable[[WireRequest], WireResponse | Awaitable[WireResponse]]
Answer = WireResponse | int | Reply


def status(code: int, headers: Mapping[str, str] | None = None) -> WireResponse:
    """An error answer as the API gives one: ``{"detail": "scripted <code>"}``."""
    return WireResponse.of(code, json={"detail": f"scripted {code}"}, headers=headers)


def connection_reset(request: WireRequest) -> WireResponse:
    """The connection broke after the request went out (plays a reset on the wire)."""
    raise APIConnectionError(
        f"{request.method} {request.path} failed: connection reset",
        method=request.method,
        path=request.path,
    )


async def answer_of(answer: Answer, request: WireRequest) -> WireResponse:
    """What one scripted answer says to ``request``: itself, an error ``status`` for an int,
    or what a function of the request returns (or raises)."""
    if isinstance(answer, WireResponse):
        return answer
    if isinstance(answer, int):
        return status(answer)
    reply = answer(request)
    return await reply if inspect.isawaitable(reply) else reply


class Scripted:
    """A ``MockTransport`` handler: the ``first`` answers, one a request, then ``then``."""

    def __init__(self, *first: Answer, then: Answer) -> None:
        self.first = list(first)
        self.then = then

    async def __call__(self, request: WireRequest) -> WireResponse:
        answer = self.first.pop(0) if self.first else self.then
        return await answer_of(answer, request)


class Paths:
    """A ``MockTransport`` handler: each path's answers in turn, its last one for good; a path
    without answers is a 404. ``gets(path)`` counts the requests it had."""

    def __init__(self, answers: Mapping[str, list[Answer]] | None = None) -> None:
        self.answers: dict[str, list[Answer]] = {p: list(a) for p, a in (answers or {}).items()}
        self.seen: list[WireRequest] = []

    def script(self, path: str, *answers: Answer) -> None:
        self.answers[path] = list(answers)

    def gets(self, path: str) -> int:
        return sum(1 for request in self.seen if request.url.path == path)

    async def __call__(self, request: WireRequest) -> WireResponse:
        self.seen.append(request)
        queue = self.answers.get(request.url.path)
        if not queue:
            return WireResponse.of(404, json={"detail": f"{request.url.path} not found"})
        return await answer_of(queue.pop(0) if len(queue) > 1 else queue[0], request)


def mock_session(
    handler: MockTransport | Reply, sleeps: RecordedSleeps | None = None, **options: Any
) -> AsyncSession:
    """A session with the tests' key on a ``MockTransport``, its retries sleeping in ``sleeps``
    (recorded, returning at once)."""
    transport = handler if isinstance(handler, MockTransport) else MockTransport(handler)
    options.setdefault("retry_policy", RetryPolicy(sleep=sleeps or RecordedSleeps()))
    return AsyncSession(API_KEY, transport=transport, **options)

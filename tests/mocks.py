"""Tests of the session's own rules on a ``MockTransport``: scripted answers, no socket."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from aiohttp import web

from nebius_ft_async import (
    APIConnectionError,
    AsyncSession,
    MockTransport,
    RetryPolicy,
    WireRequest,
    WireResponse,
    WireTimeout,
)

from .conftest import API_KEY, Handler, RecordedSleeps

LOOPBACK = "http://127.0.0.1:9"
"""A base URL for mock sessions that poll: a loopback API allows the fast poll intervals of
tests (a remote one wants at least 1 s); no request goes there."""

Reply = Callable[[WireRequest], WireResponse | Awaitable[WireResponse]]
Answer = WireResponse | int | dict[str, Any] | Reply
"""A scripted answer: itself, an error ``status`` for an int, a 200 with a dict as its JSON
body, or what a function of the request returns."""


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
    """What one scripted answer says to ``request`` (see ``Answer``); a function may raise."""
    if isinstance(answer, WireResponse):
        return answer
    if isinstance(answer, int):
        return status(answer)
    if isinstance(answer, dict):
        return WireResponse.of(json=answer)
    reply = answer(request)
    return await reply if inspect.isawaitable(reply) else reply


def listed(items: list[dict[str, Any]], default_limit: int, *, cursors: bool = True) -> Reply:
    """Answers a list request with a page of ``items`` (read at each request: a test may add
    to them) by ``after`` and ``limit`` as the API does; an unknown ``after`` gets an empty
    page. ``cursors=False`` leaves out ``first_id`` and ``last_id`` (the events list has
    none)."""

    def answer(request: WireRequest) -> WireResponse:
        limit = int(request.url.query.get("limit", default_limit))
        after = request.url.query.get("after")
        ids = [item["id"] for item in items]
        start = 0 if after is None else ids.index(after) + 1 if after in ids else len(items)
        chunk = items[start : start + limit]
        page: dict[str, Any] = {
            "object": "list",
            "data": chunk,
            "has_more": start + limit < len(items),
        }
        if cursors:
            page["first_id"] = chunk[0]["id"] if chunk else None
            page["last_id"] = chunk[-1]["id"] if chunk else None
        return WireResponse.of(json=page)

    return answer


class Scripted:
    """A ``MockTransport`` handler: the ``first`` answers, one a request, then ``then``."""

    def __init__(self, *first: Answer, then: Answer) -> None:
        self.first = list(first)
        self.then = then

    async def __call__(self, request: WireRequest) -> WireResponse:
        answer = self.first.pop(0) if self.first else self.then
        return await answer_of(answer, request)


def job_path(job_id: str) -> str:
    return f"/v1/fine_tuning/jobs/{job_id}"


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

    def job(self, job_id: str, *answers: Answer) -> None:
        """Script successive GETs of a job (``script`` of its path)."""
        self.script(job_path(job_id), *answers)

    def job_gets(self, job_id: str) -> int:
        return self.gets(job_path(job_id))

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


def served(handler: Reply) -> Handler:
    """A ``MockTransport`` handler as a local server's answer (for ``serve_answer``): for a
    client in another process, the command line. It sees each request as a ``WireRequest``
    whose ``headers`` are all the request's."""

    async def answer(request: web.Request) -> web.Response:
        wire = WireRequest(
            method=request.method,
            url=request.url,
            path=request.path_qs,
            timeout=WireTimeout(None, None),
            max_body=0,
            session_headers={},
            headers=dict(request.headers),
            body=await request.read() or None,
        )
        reply = handler(wire)
        response = await reply if inspect.isawaitable(reply) else reply
        headers = {k: v for k, v in response.headers.items() if k.lower() != "content-length"}
        return web.Response(status=response.status, body=response.body, headers=headers)

    return answer

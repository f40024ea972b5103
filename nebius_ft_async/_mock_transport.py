"""MockTransport: a session whose requests a function of yours answers, with no socket.

Everything above the wire runs as it does against the network: the budget, retries and
``Retry-After``, redirects (the key never goes to another origin), decoding, raw responses,
hooks and deadlines. Only the one attempt on the wire is the handler's.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable

import anyio
from multidict import CIMultiDict, CIMultiDictProxy

from ._errors import NebiusError
from ._routes import report_progress
from ._wire import WireRequest, WireResponse

Handler = Callable[[WireRequest], WireResponse | Awaitable[WireResponse]]
"""Answers one request: a plain function or a coroutine function."""


class MockTransport:
    """A transport that answers each request with ``handler(request)`` instead of sending it.

    ::

        def handler(request: WireRequest) -> WireResponse:
            if request.url.path == "/v1/fine_tuning/jobs/ftjob-abc":
                return WireResponse.of(json=job_body)  # a job as the API sends it
            return WireResponse.of(404, json={"detail": "Not found"})

        async with AsyncSession("test-key", transport=MockTransport(handler)) as session:
            job = await session.get_job("ftjob-abc")

    The handler gets a ``WireRequest`` (``method``, ``url``, ``all_headers``, ``body``: the
    JSON bytes of a create, an ``Upload`` form or a ``FilePart`` of a file) and returns a
    ``WireResponse`` (``WireResponse.of(status, json=..., headers=...)``); to play a network
    failure it raises ``APIConnectionError``. Each attempt is bounded by the session's
    ``timeout`` (an upload's or a download's too, in all rather than as silence); an answer
    to a download is written to its file; a body over ``max_response_bytes`` is refused;
    headers are looked up in any case; bodies are taken as they are (nothing is
    decompressed). ``requests`` keeps every request it was sent. The session does not close
    a transport it was given: one ``MockTransport`` may serve several sessions.
    """

    def __init__(self, handler: Handler) -> None:
        if not callable(handler):
            raise ValueError(f"handler must be callable, got {handler!r}")
        self.handler = handler
        self.requests: list[WireRequest] = []
        """Every request sent through it, in order (redirects and retries each count)."""
        self._closed = False

    def ready(self) -> None:
        """Raise ``NebiusError`` once it was closed."""
        if self._closed:
            raise NebiusError("this MockTransport is closed")

    async def close(self) -> None:
        """Refuse further requests."""
        self._closed = True

    def unclosed(self) -> bool:
        """Always false: it holds no connection."""
        return False

    async def send(self, request: WireRequest) -> WireResponse:
        """The handler's answer to ``request``, within the attempt's ``timeout``."""
        self.requests.append(request)
        timeout = request.timeout
        # a transfer is bounded by silence on the wire: here, by the same seconds in all
        limit = (timeout.total if timeout.total is not None else timeout.read) or None
        timed_out = False
        try:
            async with asyncio.timeout(limit):
                answer = self.handler(request)
                if inspect.isawaitable(answer):
                    answer = await answer
        except TimeoutError:
            timed_out = True
        if timed_out:
            raise request.timed_out()
        if not isinstance(answer, WireResponse):
            raise NebiusError(
                f"the MockTransport handler returned {type(answer).__name__}, not a WireResponse"
            )
        if not isinstance(answer.headers, CIMultiDictProxy | CIMultiDict):
            headers = CIMultiDictProxy(CIMultiDict(answer.headers))  # looked up in any case
            answer = WireResponse(answer.status, headers, answer.body, answer.reason)
        if request.on_answer is not None:
            request.on_answer(answer.status, answer.headers)
        if request.sink is not None and 200 <= answer.status < 300:
            await anyio.Path(request.sink).write_bytes(answer.body)
            if request.on_progress is not None:
                report_progress(request.on_progress, len(answer.body), len(answer.body))
            return WireResponse(answer.status, answer.headers, b"", answer.reason)
        if len(answer.body) > request.max_body:
            raise request.too_large(answer.status, answer.headers)
        return answer

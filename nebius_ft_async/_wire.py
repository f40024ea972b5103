"""What one attempt sends and gets back, below the attempt loop: the seam to the transport.

The session's attempt loop (slot, budget turn, hooks, redirects, decoding, retries) builds a
``WireRequest`` for each attempt and hands it to its transport, which owns the connections
and is the only code that speaks HTTP (``_aiohttp_transport``). Nothing here does I/O.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import NamedTuple, Protocol

import msgspec
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from ._errors import APITimeoutError, NebiusError, decode_error
from ._routes import FilePart, Progress, Upload


class WireTimeout(NamedTuple):
    """Seconds one attempt may take on the wire: in all, to connect, of silence reading."""

    total: float | None
    connect: float | None
    read: float | None = None
    exact: bool = False
    """Kept to the millisecond rather than rounded up (a deadline's remainder)."""

    def within(self, seconds: float) -> WireTimeout:
        """This timeout with its total cut to ``seconds`` (the time left before a deadline)."""
        total = seconds if self.total is None else min(self.total, seconds)
        return WireTimeout(max(total, 0.0001), self.connect, self.read, exact=True)

    def words(self) -> str:
        """What running out of it means, for a message."""
        if self.total is not None:
            return f"no full answer within {self.total:g} s"
        return f"nothing on the wire for {self.read:g} s"


class WireRequest(msgspec.Struct):
    """One attempt of a call, as the transport sends it.

    ``path`` is the request as messages show it. ``session_headers`` are the session's own
    (the key, the defaults: one read-only mapping, which the aiohttp transport sets once on
    its client; empty for a request to another origin, ``foreign``: the storage a download
    redirects to) and ``headers`` the call's beside them; ``all_headers`` merges the two.
    Its ``repr`` names the session's headers without their values. ``body`` is JSON bytes,
    a multipart form or a part of a file, streamed from disk. A 2xx answer's body is
    written to ``sink`` when one is given (and ``on_progress`` told), else read into memory
    up to ``max_body`` bytes. ``on_answer(status, headers)`` is told as soon as the
    answer's head arrives.
    """

    method: str
    url: URL
    path: str
    timeout: WireTimeout
    max_body: int
    session_headers: Mapping[str, str]
    headers: Mapping[str, str] | None = None
    body: bytes | Upload | FilePart | None = None
    foreign: bool = False
    sink: Path | None = None
    on_progress: Progress | None = None
    on_answer: Callable[[int, Mapping[str, str]], None] | None = None

    def __repr__(self) -> str:
        # the session's headers hold the key: a repr in a log or a test's message names them
        shown = ", ".join(sorted(self.session_headers))
        return (
            f"WireRequest({self.method} {self.path}, session headers: {shown or 'none'}, "
            f"headers: {dict(self.headers or {})!r}, foreign={self.foreign})"
        )

    def timed_out(self, *, request_sent: bool = True) -> APITimeoutError:
        """The error of this attempt running out of its ``timeout``."""
        return APITimeoutError(
            f"{self.method} {self.path} timed out: {self.timeout.words()}",
            method=self.method,
            path=self.path,
            request_sent=request_sent,
        )

    def too_large(self, status: int, headers: Mapping[str, str]) -> NebiusError:
        """The error of an answer whose body is over ``max_body`` bytes."""
        return decode_error(
            status,
            content_type(headers),
            b"",
            f"body larger than the {self.max_body} byte limit (max_response_bytes)",
            method=self.method,
            path=self.path,
            request_id=request_id(headers),
        )

    @property
    def all_headers(self) -> dict[str, str]:
        """Every header the request carries: the session's (not to another origin) and the
        call's."""
        own = {} if self.foreign else dict(self.session_headers)
        return {**own, **(self.headers or {})}


class WireResponse(msgspec.Struct):
    """The answer to one attempt: its status, headers (looked up case-insensitively), body
    (empty when it went to the request's ``sink``) and reason."""

    status: int
    headers: Mapping[str, str]
    body: bytes = b""
    reason: str = ""

    @classmethod
    def of(
        cls,
        status: int = 200,
        *,
        json: object = None,
        body: bytes = b"",
        headers: Mapping[str, str] | None = None,
    ) -> WireResponse:
        """An answer as a test writes one: ``json`` (encoded, with its content type) or
        ``body``, and ``headers``."""
        found = CIMultiDict(headers or {})
        if json is not None:
            body = msgspec.json.encode(json)
            found.setdefault("Content-Type", "application/json")
        found.setdefault("Content-Length", str(len(body)))
        return cls(status, CIMultiDictProxy(found), body, "")


class AsyncTransport(Protocol):
    """What sends a session's requests (``AsyncSession(transport=...)``): one attempt at a
    time, below the session's retries, redirects and budget."""

    def ready(self) -> None:
        """Raise a ``NebiusError`` if a request cannot go now (the transport is closed)."""
        ...

    def send(self, request: WireRequest) -> Awaitable[WireResponse]:
        """Send ``request`` once and read its answer (an ``async def send`` does); a failure
        on the wire raises an ``APIConnectionError`` or ``APITimeoutError``."""
        ...

    async def close(self) -> None:
        """Close every connection it holds."""
        ...

    def unclosed(self) -> bool:
        """True while connections it owns are open (the session warns if dropped so)."""
        ...


def request_id(headers: Mapping[str, str]) -> str | None:
    """The server's id of the request, if its answer names one."""
    return headers.get("x-request-id") or headers.get("request-id")


def content_type(headers: Mapping[str, str]) -> str:
    """The media type of an answer's body, without its parameters."""
    return headers.get("content-type", "").partition(";")[0].strip()

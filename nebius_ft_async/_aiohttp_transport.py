"""The transport: one attempt on the wire, over aiohttp (the only module that imports it).

``AiohttpTransport.send`` takes a ``WireRequest`` and gives back a ``WireResponse``. It owns
the connections (one connector, bound to the event loop that first uses it; a client of the
user's is used as it is), the proxy and TLS settings, how the key is sent (never to another
origin, never to a proxy), streamed uploads (a multipart form, or a part of a file) with a
watch on a server that stops taking them, downloads streamed into a file, the size cap on
bodies read into memory, and decompression. Every failure on the wire is raised as an
``APIConnectionError`` or ``APITimeoutError`` (``request_sent`` says whether the server may
have seen the request), outside the ``except`` block, so that nothing of aiohttp's (its
request info holds the headers) rides along as ``__context__``.
"""

from __future__ import annotations

import asyncio
import io
import math
import os
from collections.abc import Awaitable, Iterator, Mapping
from contextlib import contextmanager, suppress
from functools import cached_property
from ssl import SSLContext, create_default_context
from typing import IO, Any

import aiohttp
import anyio
from aiohttp import hdrs
from yarl import URL

from ._errors import (
    APIConnectionError,
    APIError,
    APITimeoutError,
    ConfigurationError,
    NebiusError,
)
from ._file_slice import FileSlice
from ._inflate import BodyError, BodyTooLarge, Inflater
from ._network import checked_proxy, environment_proxy
from ._routes import FilePart, Progress, Upload, report_progress
from ._wire import WireRequest, WireResponse, WireTimeout

PROXY_VARIABLES = "the proxy named by HTTPS_PROXY / HTTP_PROXY / ALL_PROXY (trust_env)"
"""How a proxy from the environment is named in errors."""

_READ_CHUNK = 256 * 1024
_DOWNLOAD_CHUNK = 1024 * 1024
_PROGRESS_EVERY = 0.1
_PART_HEADERS = {"Content-Type": "application/octet-stream"}
_DEFAULT_SILENCE = 60.0  # an upload's stall watch when the session has no timeout

ClientSession = aiohttp.ClientSession
"""aiohttp's client, the type of ``AsyncSession(client_session=...)``."""


class AiohttpTransport:
    """Sends a session's requests over aiohttp.

    ``headers`` (the key among them) go with every request to the API's origin, set once on
    its client (they are what a request's ``session_headers`` hold); ``proxy``
    (already looked up, or ``None``) is used for it, and ``storage_proxy_from_env`` says
    whether another origin looks its own up in the environment. ``inflate`` says whether
    compressed bodies are decompressed here (not when the user's ``client_session`` does it
    itself).
    """

    def __init__(
        self,
        *,
        headers: dict[str, str],
        proxy: str | None,
        proxy_given: bool,
        storage_proxy_from_env: bool,
        ssl: SSLContext | bool,
        ssl_given: bool,
        max_connections: int,
        client_session: aiohttp.ClientSession | None,
        inflate: bool,
    ) -> None:
        self._proxy = proxy
        self._ssl = ssl
        self._storage_proxy_from_env = storage_proxy_from_env
        self._max_connections = max_connections
        self._inflate = inflate
        self._own_client = client_session is None
        # Sent with each request when the client is the user's (their defaults stay theirs),
        # and the key is when a proxy is used: aiohttp copies a session's default headers
        # into the CONNECT request, where an Authorization header would reach the proxy (as
        # Proxy-Authorization) in clear text.
        self._client_headers = dict(headers)
        if not self._own_client:
            self._request_headers: dict[str, str] | None = headers
        elif proxy is not None:
            self._request_headers = {"Authorization": self._client_headers.pop("Authorization")}
        else:
            self._request_headers = None
        self._request_options: dict[str, Any] = {}
        if not self._own_client:
            if proxy_given:
                self._request_options["proxy"] = proxy
            if ssl_given:
                self._request_options["ssl"] = ssl
        self._timeouts: dict[WireTimeout, aiohttp.ClientTimeout] = {}
        self._last_timeout: WireTimeout | None = None  # the one asked for last, and its form
        self._last_client_timeout = aiohttp.ClientTimeout()
        self._client: aiohttp.ClientSession | None = client_session
        self._foreign_client: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False

    # -- the connections ---------------------------------------------------------------

    def ready(self) -> None:
        """Make sure a request can go now: a client in this event loop (made on first use);
        a ``NebiusError`` if the transport is closed or bound to another loop."""
        if (
            self._client is None
            or self._closed
            or not self._own_client
            or self._loop is not asyncio.get_running_loop()
        ):
            self._client_session()

    async def close(self) -> None:
        """Close every connection (not those of the user's client)."""
        self._closed = True
        if self._client is not None and self._own_client:
            await self._client.close()
        if self._foreign_client is not None:
            await self._foreign_client.close()

    def unclosed(self) -> bool:
        """True while connections of its own are open."""
        client = self._client
        return client is not None and self._own_client and not client.closed

    def _client_session(self) -> aiohttp.ClientSession:
        if self._closed:
            raise NebiusError("this AsyncSession is closed")
        loop = asyncio.get_running_loop()
        if not self._own_client:
            return self._users_client(loop)
        if self._client is not None and self._loop is not loop:
            self._abandon_client()
            raise NebiusError(
                "this AsyncSession was used in another event loop (an earlier asyncio.run, "
                "say), which it stays bound to: make one session per event loop, inside it"
            )
        if self._client is None:
            self._loop = loop
            connector = aiohttp.TCPConnector(
                limit=self._max_connections, limit_per_host=0, ssl=self._ssl
            )
            self._client = aiohttp.ClientSession(
                connector=connector,
                headers=self._client_headers,  # set once: no per-request merging on the hot path
                timeout=aiohttp.ClientTimeout(),
                auto_decompress=False,  # _inflater does it, and checks the stream is whole
                proxy=self._proxy,
                trust_env=False,  # the proxy was looked up once, for the one origin
            )
        return self._client

    @cached_property
    def _foreign_base_options(self) -> dict[str, Any]:
        options = dict(self._request_options)
        if self._ssl is False:
            options["ssl"] = create_default_context()
        return options

    def _foreign_options(self, target: URL) -> dict[str, Any]:
        """Request options for another origin: a certificate check even where the session
        turned it off (``ssl=False`` is for a loopback API, not for the storage it names),
        and the proxy the environment names for that origin (its own ``NO_PROXY`` rules),
        or the session's ``proxy=`` when one was given."""
        if not self._own_client:
            return self._foreign_base_options
        if self._storage_proxy_from_env:
            found = environment_proxy(str(target.origin()))
            proxy = None if found is None else checked_proxy(found, PROXY_VARIABLES)
        else:
            proxy = self._proxy
        return {**self._foreign_base_options, "proxy": proxy}

    def _client_for_another_origin(self) -> aiohttp.ClientSession:
        """The client a redirect to another origin (object storage) is followed with: the
        session's connections, none of its headers, so the key stays with the API. A user's
        client is used as it is: its default headers are theirs, the key is not among them."""
        client = self._client_session()
        if not self._own_client:
            return client
        if self._foreign_client is None:
            self._foreign_client = aiohttp.ClientSession(
                connector=client.connector,
                connector_owner=False,
                timeout=aiohttp.ClientTimeout(),
                auto_decompress=False,
                trust_env=False,  # each request names its proxy: _foreign_options
            )
        return self._foreign_client

    def _users_client(self, loop: asyncio.AbstractEventLoop) -> aiohttp.ClientSession:
        client = self._client
        assert client is not None
        if client.closed:
            raise NebiusError("the aiohttp.ClientSession given as client_session is closed")
        if self._loop is None:
            self._loop = loop
        elif self._loop is not loop:
            raise NebiusError(
                "this AsyncSession was used in another event loop than its client_session's: "
                "make the session and its client inside the event loop that uses them"
            )
        return client

    def _abandon_client(self) -> None:
        """Let go of a client whose event loop is gone, without its 'unclosed' warnings: its
        connections cannot be closed from another loop, and die with the old one."""
        foreign, self._foreign_client = self._foreign_client, None
        if foreign is not None:
            foreign.detach()
        client, self._client = self._client, None
        if client is None:
            return
        connector = client.connector
        client.detach()  # the client counts as closed from now on
        if connector is not None:
            with suppress(RuntimeError):  # its loop is closed: nothing left to close there
                connector._close()

    # -- one attempt -------------------------------------------------------------------

    def send(self, request: WireRequest) -> Awaitable[WireResponse]:
        """Send ``request`` once (after ``ready()``) and read its answer; a failure on the
        wire raised as ``APIConnectionError`` or ``APITimeoutError``."""
        body = request.body
        if body is None or isinstance(body, bytes):
            return self._exchange(request, body, None, None)
        return self._send_streamed(request, body)

    async def _send_streamed(self, request: WireRequest, body: Upload | FilePart) -> WireResponse:
        """A body streamed from disk, under a watch for a server that stops taking it."""
        silence = request.timeout.read or _DEFAULT_SILENCE  # 0, as for aiohttp: no limit
        stall = _StallWatch(silence, request.on_progress)
        with _streamed(body, stall) as (data, body_headers):
            answer = await self._exchange(request, data, body_headers, stall)
        if request.on_progress is not None and answer.status < 300:
            report_progress(request.on_progress, stall.size, stall.size)
        return answer

    async def _exchange(
        self,
        request: WireRequest,
        data: Any,
        body_headers: dict[str, str] | None,
        stall: _StallWatch | None,
    ) -> WireResponse:
        """The request on aiohttp's client, and its answer read: into the request's
        ``sink``, whole when its length is known and within the cap, else counted."""
        client = self._client
        assert client is not None
        if request.foreign:
            client = self._client_for_another_origin()
            options = self._foreign_options(request.url)
            headers: Mapping[str, str] | None = request.headers
        else:
            options = self._request_options
            headers = self._request_headers
            if request.headers:
                headers = {**(headers or {}), **request.headers}
        if body_headers:
            headers = {**(headers or {}), **body_headers}
        timeout = request.timeout
        if timeout is self._last_timeout:
            client_timeout = self._last_client_timeout
        else:
            client_timeout = self._client_timeout(timeout)
        failure: APIError | None = None
        try:
            async with client.request(
                request.method,
                request.url,
                headers=headers,
                data=data,
                allow_redirects=False,
                timeout=client_timeout,
                **options,
            ) as response:
                status = response.status
                response_headers = response.headers
                if request.on_answer is not None:
                    request.on_answer(status, response_headers)
                length = response_headers.get(hdrs.CONTENT_LENGTH)
                if request.sink is not None and 200 <= status < 300:
                    answer = await self._save(response, request)
                elif (
                    length is not None
                    and length.isdecimal()
                    and int(length) <= request.max_body
                    and hdrs.CONTENT_ENCODING not in response_headers
                ):  # a body of known length, not compressed: read it whole
                    answer = await response.read()
                else:
                    answer = await self._read(response, request)
                return WireResponse(status, response_headers, answer, response.reason or "")
        except TimeoutError as exc:
            failure = request.timed_out(
                request_sent=not isinstance(exc, aiohttp.ConnectionTimeoutError)
            )
        except aiohttp.ClientError as exc:
            failure = _connection_error(request, exc)
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if stall is None or not stall.fired or current is None or current.cancelling() > 1:
                raise  # the caller's own cancellation (or the deadline's) stays one
            current.uncancel()
            failure = APITimeoutError(
                f"{request.method} {request.path} stalled: the server took none of the body "
                f"for {stall.silence:g} s",
                method=request.method,
                path=request.path,
            )
        raise failure  # outside the except block: nothing of aiohttp's rides along

    def _client_timeout(self, timeout: WireTimeout) -> aiohttp.ClientTimeout:
        """aiohttp's form of ``timeout``: the session's own few made once, a deadline's
        remainder each time."""
        if timeout is self._last_timeout:
            return self._last_client_timeout
        found = self._timeouts.get(timeout)
        if found is None:
            found = _client_timeout(timeout)
            if timeout.exact:
                return found
            self._timeouts[timeout] = found
        self._last_timeout, self._last_client_timeout = timeout, found
        return found

    async def _read(self, response: aiohttp.ClientResponse, request: WireRequest) -> bytes:
        """The whole body, refusing one larger than ``max_body`` once decompressed; a
        compressed body must reach the end of its stream (else a transport error)."""
        cap = request.max_body
        declared = response.content_length
        with _as_transport_error():
            inflater = _inflater(response, cap) if self._inflate else None
        if declared is not None and declared <= cap and inflater is None:
            return await response.read()
        if declared is None or inflater is not None:  # count what comes out, not what is sent
            chunks = []
            size = 0
            try:
                with _as_transport_error():
                    async for chunk in response.content.iter_chunked(_READ_CHUNK):
                        if inflater is not None:
                            chunk = inflater.feed(chunk)
                        size += len(chunk)
                        if size > cap:
                            break
                        chunks.append(chunk)
                    else:
                        if inflater is not None:
                            chunks.append(inflater.finish())
                        return b"".join(chunks)
            except BodyTooLarge:
                pass
        response.close()
        raise request.too_large(response.status, response.headers)

    async def _save(self, response: aiohttp.ClientResponse, request: WireRequest) -> bytes:
        """Stream the body into the request's ``sink`` (from its start, each attempt)."""
        assert request.sink is not None
        received = 0
        async with await anyio.open_file(request.sink, "wb") as file:
            with _as_transport_error():
                inflater = _inflater(response, None) if self._inflate else None
                async for chunk in response.content.iter_chunked(_DOWNLOAD_CHUNK):
                    received += len(chunk)
                    await file.write(chunk if inflater is None else inflater.feed(chunk))
                    if request.on_progress is not None:
                        report_progress(request.on_progress, received, response.content_length)
                if inflater is not None:
                    await file.write(inflater.finish())
        expected = response.content_length
        if expected is not None and received != expected:
            raise aiohttp.ClientPayloadError(f"got {received} of {expected} bytes")
        return b""


@contextmanager
def _streamed(
    upload: Upload | FilePart | bytes | None, stall: _StallWatch
) -> Iterator[tuple[Any, dict[str, str] | None]]:
    """An upload as aiohttp sends it, and the headers that go with it: a part of a file as
    the whole body, or a multipart form; streamed from disk under the stall watch."""
    if isinstance(upload, FilePart):
        with (
            FileSlice(upload.file, upload.offset, upload.length) as part,
            stall.watching(part, upload.length),
        ):
            yield part, _PART_HEADERS | {"Content-Length": str(upload.length)}
        return
    assert isinstance(upload, Upload)
    yield from _form(upload, stall)


def _form(upload: Upload, stall: _StallWatch) -> Iterator[tuple[Any, dict[str, str] | None]]:
    """A multipart form with ``fields`` and one file part, streamed from disk or bytes."""
    data = aiohttp.FormData()
    for name, value in upload.fields.items():
        data.add_field(name, value)
    file = upload.file
    if isinstance(file, bytes):  # as a stream: aiohttp warns about large raw bodies
        stream: IO[bytes] = io.BytesIO(file)
        size = len(file)
    else:
        stream = open(file, "rb")  # noqa: SIM115 (closed below; read by aiohttp)
        size = os.fstat(stream.fileno()).st_size
    with stream, stall.watching(stream, size):
        data.add_field("file", stream, filename=upload.filename)
        yield data, None


class _StallWatch:
    """Notices an upload the server stopped taking: the file's read position (aiohttp reads
    the next chunk only once the last was written) stands still for ``silence`` seconds
    before the end. Then it cancels the task sending it, and says so in ``fired``."""

    def __init__(self, silence: float, on_progress: Progress | None = None) -> None:
        self.silence = silence
        self.fired = False
        self.on_progress = on_progress  # told of the position as it moves, when given
        self.size = 0

    @contextmanager
    def watching(self, stream: IO[bytes] | FileSlice, size: int) -> Iterator[None]:
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        every = min(self.silence / 4, 1.0 if self.on_progress is None else _PROGRESS_EVERY)
        self.size = size
        last_position, moved = stream.tell(), loop.time()
        handle: asyncio.TimerHandle | None = None

        def check() -> None:
            nonlocal handle, last_position, moved
            position = stream.tell()
            now = loop.time()
            if position != last_position:
                last_position, moved = position, now
                if self.on_progress is not None:
                    report_progress(self.on_progress, position, size)
            if position >= size:
                return  # all of it was taken: the answer's silence is the read timeout's
            if now - moved >= self.silence and task is not None:
                self.fired = True
                task.cancel()
                return
            handle = loop.call_later(every, check)

        handle = loop.call_later(every, check)
        try:
            yield
        finally:
            handle.cancel()


def _connection_error(request: WireRequest, exc: aiohttp.ClientError) -> APIConnectionError:
    """What a failure of aiohttp's on the wire is raised as: its kind and message (another
    origin's by its host only, as its errors may quote the signed link)."""
    method, path = request.method, request.path
    detail = f" from {request.url.host}" if request.foreign else f": {exc}"
    return APIConnectionError(
        f"{method} {path} failed: {type(exc).__name__}{detail}",
        method=method,
        path=path,
        request_sent=not isinstance(exc, aiohttp.ClientConnectorError),
    )


def _client_timeout(timeout: WireTimeout) -> aiohttp.ClientTimeout:
    if timeout.exact:  # the deadline to the millisecond, not rounded up
        return aiohttp.ClientTimeout(
            total=timeout.total,
            sock_connect=timeout.connect,
            sock_read=timeout.read,
            ceil_threshold=math.inf,
        )
    return aiohttp.ClientTimeout(
        total=timeout.total, sock_connect=timeout.connect, sock_read=timeout.read
    )


def _inflater(response: aiohttp.ClientResponse, cap: int | None) -> Inflater | None:
    """What decompresses this response's body, if it is compressed."""
    encoding = response.headers.get("content-encoding", "identity").strip().lower()
    if encoding in ("", "identity"):
        return None
    return Inflater(encoding, cap)


@contextmanager
def _as_transport_error() -> Iterator[None]:
    """A body cut short, corrupt or in an unreadable encoding is a transport error (aiohttp's,
    mapped and retried like one); one past the size cap stays ``BodyTooLarge``."""
    try:
        yield
    except BodyTooLarge:
        raise
    except BodyError as error:
        raise aiohttp.ClientPayloadError(str(error)) from None


def checked_client_session(value: object) -> aiohttp.ClientSession | None:
    """``value`` as the user's ``client_session``; a ``ConfigurationError`` if it is not
    an ``aiohttp.ClientSession`` (``None`` stays ``None``)."""
    if value is not None and not isinstance(value, aiohttp.ClientSession):
        raise ConfigurationError(
            f"client_session must be an aiohttp.ClientSession, got {type(value).__name__}"
        )
    return value


def inflates_for(client_session: aiohttp.ClientSession | None) -> bool:
    """Whether the transport decompresses bodies itself: unless the user's client does
    (then that client asks for compressed bodies too)."""
    return client_session is None or not client_session.auto_decompress

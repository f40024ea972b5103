"""``FakeTokenFactory.transport()``: the fake's own aiohttp applications answering a session's
requests in process, with no socket.

Each request is written as HTTP/1.1 bytes into aiohttp's own server protocol (the protocol
factory that ``loop.create_server`` would be given, ``AppRunner.server``) through an
in-memory ``asyncio.Transport``, and its answer is read back from the bytes the server
wrote. So everything of the fake runs as it does over a socket: its middleware (the key,
queued faults, the rate limit), routing, multipart parsing, redirects to the storage, and a
connection it closes (``fail_next("drop")``) is a connection lost. Only public aiohttp
interfaces are used: ``AppRunner``, its ``server`` and the asyncio protocol contract.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import aiohttp
import anyio
from aiohttp import web
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from .._errors import APIConnectionError
from .._mock_transport import MockTransport
from .._routes import FilePart, Upload
from .._wire import WireRequest, WireResponse

IN_PROCESS_URL = "http://localhost"
"""Where a fake that is not listening says its API is, for ``transport()`` to answer."""
IN_PROCESS_STORAGE_URL = "http://127.0.0.2"
"""Where such a fake's storage is: another origin, as the real storage is."""


class InProcessTransport(MockTransport):
    """A ``MockTransport`` whose handler is the fake itself: each request goes to the API
    application, or to the storage application when it is for ``storage_url()``'s origin.
    ``close()`` also cleans the applications up."""

    def __init__(
        self,
        api: Callable[[], web.Application],
        storage: Callable[[], web.Application],
        storage_url: Callable[[], str],
    ) -> None:
        super().__init__(self._exchange)
        self._apps = {"api": api, "storage": storage}
        self._storage_url = storage_url
        self._runners: dict[str, web.AppRunner] = {}
        self._setting_up = asyncio.Lock()

    async def close(self) -> None:
        """Refuse further requests and clean up the applications."""
        await super().close()
        runners, self._runners = list(self._runners.values()), {}
        for runner in runners:
            await runner.cleanup()

    async def _server(self, url: URL) -> web.Server:
        """The protocol factory of the application that answers ``url``."""
        name = "storage" if url.origin() == URL(self._storage_url()).origin() else "api"
        async with self._setting_up:
            runner = self._runners.get(name)
            if runner is None:
                runner = web.AppRunner(self._apps[name](), access_log=None, handle_signals=False)
                await runner.setup()
                self._runners[name] = runner
        assert runner.server is not None
        return runner.server

    async def _exchange(self, request: WireRequest) -> WireResponse:
        server = await self._server(request.url)
        written = await _served(server, await _wire_bytes(request))
        answer = _parsed(written)
        if answer is None:
            where = f" from {request.url.host}" if request.foreign else ""
            raise APIConnectionError(
                f"{request.method} {request.path} failed: the connection closed before a "
                f"whole answer came{where}",
                method=request.method,
                path=request.path,
                request_sent=True,
            )
        return answer


async def _wire_bytes(request: WireRequest) -> bytes:
    """``request`` as HTTP/1.1 puts it on the wire, asking the server to close after it."""
    headers = CIMultiDict(request.all_headers)
    body, content_type = await _body(request.body)
    if content_type is not None:
        headers.setdefault("Content-Type", content_type)
    headers["Host"] = request.url.raw_authority
    headers["Content-Length"] = str(len(body))
    headers["Connection"] = "close"
    head = [f"{request.method} {request.url.raw_path_qs} HTTP/1.1"]
    head += [f"{name}: {value}" for name, value in headers.items()]
    return "\r\n".join(head).encode("latin-1") + b"\r\n\r\n" + body


async def _body(body: bytes | Upload | FilePart | None) -> tuple[bytes, str | None]:
    """A request body's bytes and the content type aiohttp would send them with."""
    if body is None:
        return b"", None
    if isinstance(body, bytes):
        return body, "application/octet-stream"
    if isinstance(body, FilePart):
        async with await anyio.open_file(body.file, "rb") as part:
            await part.seek(body.offset)
            return await part.read(body.length), "application/octet-stream"
    form = aiohttp.FormData()
    for name, value in body.fields.items():
        form.add_field(name, value)
    file = body.file
    content = file if isinstance(file, bytes) else await anyio.Path(file).read_bytes()
    form.add_field("file", content, filename=body.filename)
    payload = form()
    return await payload.as_bytes(), payload.content_type


async def _served(server: web.Server, request: bytes) -> bytes:
    """What the server writes back to ``request`` until it closes the connection."""
    pipe = _Pipe()
    protocol = server()
    pipe.protocol = protocol
    protocol.connection_made(pipe)
    protocol.data_received(request)
    try:
        await pipe.closed
    finally:
        pipe.close()  # the session gave up (a timeout): the server's handler is cancelled
    return bytes(pipe.written)


class _Pipe(asyncio.Transport):
    """The server's end of an in-memory connection: it keeps what is written, and tells the
    protocol the connection is lost when it is closed (by the server, or by the client)."""

    def __init__(self) -> None:
        super().__init__()
        self.written = bytearray()
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.protocol: asyncio.BaseProtocol | None = None

    def write(self, data: bytes | bytearray | memoryview[Any]) -> None:
        self.written += data

    def is_closing(self) -> bool:
        return self.closed.done()

    def close(self) -> None:
        if self.closed.done():
            return
        self.closed.set_result(None)
        if self.protocol is not None:
            asyncio.get_running_loop().call_soon(self.protocol.connection_lost, None)

    def abort(self) -> None:
        self.close()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 0), "sockname": ("127.0.0.1", 0)}.get(name, default)

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def is_reading(self) -> bool:
        return not self.closed.done()

    def get_write_buffer_size(self) -> int:
        return 0

    def can_write_eof(self) -> bool:
        return False


def _parsed(written: bytes) -> WireResponse | None:
    """The answer in ``written`` (HTTP/1.1), or ``None`` if the connection closed before a
    whole one."""
    head, separator, rest = written.partition(b"\r\n\r\n")
    if not separator:
        return None
    status_line, *lines = head.decode("latin-1").split("\r\n")
    _, status, reason = [*status_line.split(" ", 2), ""][:3]
    headers: CIMultiDict[str] = CIMultiDict()
    for line in lines:
        name, _, value = line.partition(":")
        headers.add(name.strip(), value.strip())
    if headers.get("Transfer-Encoding", "").lower() == "chunked":
        body = _unchunked(rest)
        if body is None:
            return None
    elif "Content-Length" in headers:
        length = int(headers["Content-Length"])
        if len(rest) < length:
            return None
        body = rest[:length]
    else:
        body = rest
    return WireResponse(int(status), CIMultiDictProxy(headers), body, reason)


def _unchunked(data: bytes) -> bytes | None:
    """A chunked body decoded, or ``None`` if it stops before its last chunk."""
    chunks: list[bytes] = []
    while True:
        size_line, separator, data = data.partition(b"\r\n")
        if not separator:
            return None
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            return b"".join(chunks)
        if len(data) < size + 2:
            return None
        chunks.append(data[:size])
        data = data[size + 2 :]

"""Shared fixtures: the scripted API of a ``MockTransport`` session (``paths``), the shipped
fake (``fake``), and local aiohttp servers for what needs a socket (``serve_answer``)."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any

import anyio
import msgspec
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from nebius_ft_async import AsyncSession, RetryPolicy
from nebius_ft_async.testing import FakeTokenFactory

if TYPE_CHECKING:
    from .mocks import Paths  # mocks imports this module: its names are imported when used

API_KEY = "sk-test-4f1c9e2b7a6d5c3e"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
ServeAnswer = Callable[[Handler], Awaitable[str]]
"""The ``serve_answer`` fixture: serves one answer function, gives its base URL."""


def json_response(
    body: Any, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    return web.Response(
        body=msgspec.json.encode(body),
        status=status,
        content_type="application/json",
        headers=headers,
    )


async def forever() -> None:
    """Wait until cancelled: a server that never answers, a caller that never returns."""
    await asyncio.Event().wait()


async def wait_until(condition: Callable[[], bool], within: float = 5.0) -> None:
    """Poll a condition that has no event to wait on (a transport closing), for a bounded time."""
    with anyio.move_on_after(within):
        while not condition():  # noqa: ASYNC110
            await asyncio.sleep(0.01)


class RecordedSleeps:
    """A retry sleep that records each requested wait and returns at once."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        await asyncio.sleep(0)


# What the library, its command line, rich and aiohttp read from the caller's environment.
# Each test starts without them (and on a colour terminal of its own size), so no test depends
# on who runs it; a test that wants one sets it.
_CALLERS_VARIABLES = (
    "NEBIUS_API_KEY",
    "NEBIUS_BASE_URL",
    "COLUMNS",
    "LINES",
    "NO_COLOR",
    "FORCE_COLOR",
    "TTY_COMPATIBLE",
    "TTY_INTERACTIVE",
    "JUPYTER_COLUMNS",
    "JUPYTER_LINES",
    "COLORTERM",
    "NETRC",
    *(f"{name}_proxy" for name in ("http", "https", "all", "no", "ws", "wss")),
    *(f"{name}_PROXY" for name in ("HTTP", "HTTPS", "ALL", "NO", "WS", "WSS")),
)


# A shell starts its background jobs with SIGINT ignored, and a process inherits that: the
# tests that interrupt a command need it to take Ctrl-C as one started from a terminal does.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(autouse=True)
def _known_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in _CALLERS_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TERM", "xterm-256color")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def serve() -> AsyncIterator[Callable[[web.Application], Awaitable[str]]]:
    """Start aiohttp apps on 127.0.0.1; gives each one's base URL; stops them all after."""
    servers: list[TestServer] = []

    async def start(app: web.Application) -> str:
        server = TestServer(app, host="127.0.0.1")
        await server.start_server()
        servers.append(server)
        return str(server.make_url("/")).rstrip("/")

    yield start
    for server in servers:
        await server.close()


@pytest.fixture
async def serve_answer(
    serve: Callable[[web.Application], Awaitable[str]],
) -> ServeAnswer:
    """Serve one answer function on 127.0.0.1, for every method and path; gives its base URL.
    For what needs a socket: stalls, broken connections, compression, a client of the user's."""

    async def start(answer: Handler) -> str:
        async def route(request: web.Request) -> web.StreamResponse:
            return await answer(request)  # an object with an async __call__ too

        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", route)
        return await serve(app)

    return start


@pytest.fixture
def sleeps() -> RecordedSleeps:
    return RecordedSleeps()


@pytest.fixture
async def fake() -> AsyncIterator[FakeTokenFactory]:
    """The shipped fake API on 127.0.0.1, taking the tests' key."""
    async with FakeTokenFactory(api_key=API_KEY) as fake:
        yield fake


@pytest.fixture
async def fake_session(
    fake: FakeTokenFactory, sleeps: RecordedSleeps
) -> AsyncIterator[AsyncSession]:
    """A session on ``fake``, its retries sleeping in ``sleeps``."""
    async with fake.session(retry_policy=RetryPolicy(sleep=sleeps)) as session:
        yield session


@pytest.fixture
def paths() -> Paths:
    """The API a test scripts, path by path, on the ``session`` fixture's ``MockTransport``."""
    from .mocks import Paths

    return Paths()


@pytest.fixture
async def session(paths: Paths, sleeps: RecordedSleeps) -> AsyncIterator[AsyncSession]:
    """A session on a ``MockTransport`` that ``paths`` answers (loopback: tests' fast polls)."""
    from .mocks import LOOPBACK, mock_session

    async with mock_session(paths, sleeps, base_url=LOOPBACK) as session:
        yield session

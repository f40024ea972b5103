"""Shared fixtures: a real aiohttp server on 127.0.0.1 that plays the fine-tuning API."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
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
JobStep = dict[str, Any] | int | Callable[[], dict[str, Any] | int]


def json_response(
    body: Any, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    return web.Response(
        body=msgspec.json.encode(body),
        status=status,
        content_type="application/json",
        headers=headers,
    )


def page_of(
    items: list[dict[str, Any]], request: web.Request, default_limit: int
) -> dict[str, Any]:
    """Serve ``items`` with after/limit the way the API does."""
    limit = int(request.query.get("limit", default_limit))
    after = request.query.get("after")
    start = 0
    if after is not None:
        ids = [item["id"] for item in items]
        start = ids.index(after) + 1 if after in ids else len(items)
    chunk = items[start : start + limit]
    return {
        "object": "list",
        "data": chunk,
        "has_more": start + limit < len(items),
        "first_id": chunk[0]["id"] if chunk else None,
        "last_id": chunk[-1]["id"] if chunk else None,
    }


class WorkflowHandlers:
    """Jobs, files and operations endpoints of the local API (mixed into FakeApi)."""

    jobs: dict[str, dict[str, Any]]
    files: dict[str, dict[str, Any]]
    file_contents: dict[str, bytes]
    operations: dict[str, list[dict[str, Any]]]
    operation_errors: dict[str, list[str]]
    created: list[Any]

    async def _list_jobs(self, request: web.Request) -> web.Response:
        newest_first = list(reversed(self.jobs.values()))
        page = page_of(newest_first, request, default_limit=20)
        del page["first_id"], page["last_id"]
        return json_response(page)

    async def _create_job(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.created.append(body)
        if body.get("model") == "no-such-model":
            return json_response(
                {
                    "detail": [
                        {"loc": ["body", "model"], "msg": "unknown model", "type": "value_error"}
                    ]
                },
                status=422,
            )
        job_id = f"ftjob-new-{len(self.created)}"
        self.jobs[job_id] = {
            "id": job_id,
            "object": "fine_tuning.job",
            "created_at": 1767225600 + len(self.created),
            "model": body["model"],
            "training_file": body["training_file"],
            "status": "validating_files",
            "suffix": body.get("suffix"),
        }
        return json_response(self.jobs[job_id])

    async def _cancel_job(self, request: web.Request) -> web.Response:
        job = self.jobs.get(request.match_info["job_id"])
        if job is None:
            return json_response({"detail": "Job not found"}, status=404)
        if job["status"] in ("succeeded", "failed", "cancelled"):
            return json_response(
                {"detail": f"Cannot cancel a job with status {job['status']}"}, status=400
            )
        job["status"] = "cancelled"
        return json_response(job)

    async def _upload_file(self, request: web.Request) -> web.Response:
        reader = await request.multipart()
        purpose, content, filename = None, b"", ""
        async for part in reader:
            if part.name == "purpose":
                purpose = (await part.read()).decode()
            elif part.name == "file":
                filename = part.filename or ""
                chunks = []
                while chunk := await part.read_chunk(65536):
                    chunks.append(chunk)
                content = b"".join(chunks)
        file_id = f"file-{len(self.files) + 1}"
        self.files[file_id] = {
            "id": file_id,
            "object": "file",
            "bytes": len(content),
            "created_at": 1767225600,
            "filename": filename,
            "purpose": purpose,
            "status": "processed",
        }
        self.file_contents[file_id] = content
        return json_response(self.files[file_id])

    async def _list_files(self, request: web.Request) -> web.Response:
        purpose = request.query.get("purpose")
        files = [f for f in self.files.values() if purpose in (None, f["purpose"])]
        return json_response({"object": "list", "data": files})

    async def _get_file(self, request: web.Request) -> web.Response:
        file = self.files.get(request.match_info["file_id"])
        if file is None:
            return json_response({"detail": "File not found"}, status=404)
        return json_response(file)

    async def _file_content(self, request: web.Request) -> web.Response:
        content = self.file_contents.get(request.match_info["file_id"])
        if content is None:
            return json_response({"detail": "File not found"}, status=404)
        return web.Response(body=content, content_type="application/octet-stream")

    async def _list_operations(self, request: web.Request) -> web.Response:
        latest = [states[0] for states in self.operations.values()]
        return json_response({"object": "list", "data": latest})

    async def _get_operation(self, request: web.Request) -> web.Response:
        states = self.operations.get(request.match_info["operation_id"])
        if not states:
            return json_response({"detail": "Operation not found"}, status=404)
        return json_response(states.pop(0) if len(states) > 1 else states[0])

    async def _get_operation_errors(self, request: web.Request) -> web.Response:
        errors = self.operation_errors.get(request.match_info["operation_id"], [])
        return json_response({"object": "list", "data": errors})


@dataclass
class SeenRequest:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]


@dataclass
class FakeApi(WorkflowHandlers):
    """State of the local API: what it serves, what it saw, and faults to serve first."""

    jobs: dict[str, dict[str, Any]] = field(default_factory=dict)
    events: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    checkpoints: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    operation_results: dict[str, Any] = field(default_factory=dict)
    faults: list[Handler] = field(default_factory=list)
    seen: list[SeenRequest] = field(default_factory=list)
    job_scripts: dict[str, list[JobStep]] = field(default_factory=dict)
    files: dict[str, dict[str, Any]] = field(default_factory=dict)
    file_contents: dict[str, bytes] = field(default_factory=dict)
    operations: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    operation_errors: dict[str, list[str]] = field(default_factory=dict)
    created: list[Any] = field(default_factory=list)
    delay: float = 0.0
    in_flight: int = 0
    most_in_flight: int = 0

    def script_job(self, job_id: str, *steps: JobStep) -> None:
        """Answer successive GETs of a job with these steps; the last one repeats.

        A step is a job body, an error status, or a function called at that poll that
        returns either (it may change other state, such as the job's events).
        """
        self.job_scripts[job_id] = list(steps)

    def gets_of(self, job_id: str) -> int:
        return sum(1 for r in self.seen if r.path == f"/v1/fine_tuning/jobs/{job_id}")

    def fail_next(self, *handlers: Handler) -> None:
        """Serve these handlers' answers to the next requests, one each, before the real ones."""
        self.faults.extend(handlers)

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._middleware])
        app.router.add_get("/v1/fine_tuning/jobs/{job_id}", self._get_job)
        app.router.add_get("/v1/fine_tuning/jobs/{job_id}/events", self._list_events)
        app.router.add_get("/v1/fine_tuning/jobs/{job_id}/checkpoints", self._list_checkpoints)
        app.router.add_get(
            "/v1/fine_tuning/jobs/{job_id}/checkpoints/{checkpoint_id}", self._get_checkpoint
        )
        app.router.add_get("/v1/operations/{operation_id}/results", self._operation_results)
        app.router.add_get("/v1/fine_tuning/jobs", self._list_jobs)
        app.router.add_post("/v1/fine_tuning/jobs", self._create_job)
        app.router.add_post("/v1/fine_tuning/jobs/{job_id}/cancel", self._cancel_job)
        app.router.add_post("/v1/files", self._upload_file)
        app.router.add_get("/v1/files", self._list_files)
        app.router.add_get("/v1/files/{file_id}", self._get_file)
        app.router.add_get("/v1/files/{file_id}/content", self._file_content)
        app.router.add_get("/v1/operations", self._list_operations)
        app.router.add_get("/v1/operations/{operation_id}", self._get_operation)
        app.router.add_get("/v1/operations/{operation_id}/errors", self._get_operation_errors)
        return app

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        self.seen.append(
            SeenRequest(request.method, request.path, dict(request.query), dict(request.headers))
        )
        if request.headers.get("Authorization") != f"Bearer {API_KEY}":
            return json_response({"detail": "Invalid API key"}, status=401)
        if self.faults:
            return await self.faults.pop(0)(request)
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            await asyncio.sleep(self.delay)  # lets concurrent requests overlap
            return await handler(request)
        finally:
            self.in_flight -= 1

    def _job_or_404(self, job_id: str) -> dict[str, Any]:
        if job_id not in self.jobs:
            raise web.HTTPNotFound(
                text=f'{{"detail": "Job {job_id} not found"}}', content_type="application/json"
            )
        return self.jobs[job_id]

    async def _get_job(self, request: web.Request) -> web.Response:
        job_id = request.match_info["job_id"]
        script = self.job_scripts.get(job_id)
        if script:
            step = script.pop(0) if len(script) > 1 else script[0]
            answer = step() if callable(step) else step
            if isinstance(answer, int):
                return json_response(
                    {"detail": f"scripted {answer}"},
                    status=answer,
                    headers={"retry-after-ms": "1"} if answer == 429 else None,
                )
            self.jobs[job_id] = answer
        return json_response(self._job_or_404(job_id))

    async def _list_events(self, request: web.Request) -> web.Response:
        job_id = request.match_info["job_id"]
        self._job_or_404(job_id)
        page = page_of(self.events.get(job_id, []), request, default_limit=20)
        del page["first_id"], page["last_id"]  # the events list has no cursors in the spec
        return json_response(page)

    async def _list_checkpoints(self, request: web.Request) -> web.Response:
        job_id = request.match_info["job_id"]
        self._job_or_404(job_id)
        return json_response(page_of(self.checkpoints.get(job_id, []), request, default_limit=10))

    async def _get_checkpoint(self, request: web.Request) -> web.Response:
        job_id = request.match_info["job_id"]
        self._job_or_404(job_id)
        for checkpoint in self.checkpoints.get(job_id, []):
            if checkpoint["id"] == request.match_info["checkpoint_id"]:
                return json_response(checkpoint)
        return json_response({"detail": "Checkpoint not found"}, status=404)

    async def _operation_results(self, request: web.Request) -> web.Response:
        result = self.operation_results.get(request.match_info["operation_id"])
        if result is None:
            return json_response({"detail": "Operation not found"}, status=404)
        if isinstance(result, list):
            return json_response(page_of(result, request, default_limit=10))
        return json_response(result)


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
def api() -> FakeApi:
    return FakeApi()


@pytest.fixture
async def api_url(api: FakeApi, serve: Callable[[web.Application], Awaitable[str]]) -> str:
    return await serve(api.app())


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

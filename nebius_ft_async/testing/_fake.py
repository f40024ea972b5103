"""``FakeTokenFactory``: the fake's server (one aiohttp application for the API, one for the
object storage), the checks in front of every request (the key, queued faults, the rate
limit), and the parts of the API it is made of, each in its own module."""

from __future__ import annotations

import hashlib
import itertools
import math
import re
import time
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any, Literal, Self

import msgspec
from aiohttp import web

from .._session import AsyncSession
from ._answers import Handler, error_answer, json_answer
from ._bucket import Bucket
from ._custom_models import ModelsAPI
from ._datasets import DatasetsAPI
from ._files import FilesAPI
from ._jobs import JobsAPI
from ._operations import OperationsAPI
from ._sorted_ids import SortedIds
from ._state import ListOrder
from ._transport import IN_PROCESS_STORAGE_URL, IN_PROCESS_URL, InProcessTransport
from ._validation import Unparsable, Unprocessable

_Fault = Callable[[web.Request, Handler], Awaitable[web.StreamResponse]]
_OWN_HEADERS = frozenset({"content-type", "content-length"})
_ANY_SEGMENT = re.compile(r"\{(\w+)\}")


def _from_exception(error: web.HTTPException) -> web.Response:
    """aiohttp's own answer (an unknown path, a method it does not route, a body over its
    size limit) as the API gives it: JSON, ``{"detail": "Not Found"}``."""
    headers = {k: v for k, v in error.headers.items() if k.lower() not in _OWN_HEADERS}
    if error.content_type == "application/json" and error.text is not None:
        body = error.text.encode()
    else:
        body = msgspec.json.encode({"detail": error.reason})
    return web.Response(
        body=body, status=error.status, content_type="application/json", headers=headers
    )


class FakeTokenFactory(JobsAPI, FilesAPI, OperationsAPI, DatasetsAPI, ModelsAPI):
    """The fine-tuning API in process, on 127.0.0.1 (a free port unless ``port`` is given).

    Use it as ``async with``; ``url`` and ``api_key`` say where and how to reach it, and
    ``session()`` gives an ``AsyncSession`` pointed at it (or, with no port, through
    ``transport()``). ``requests`` counts the API requests it has answered, by path.

    ``rate_limit`` (requests a second) puts a token bucket of ``rate_burst`` tokens (default
    ``max(1, round(rate_limit))``, full at start) in front of the API, one per API key. The
    order of checks: a request without the right key is answered 401 and draws nothing; then
    a fault queued with ``fail_next`` is served as scripted, draws nothing and gets no rate
    headers; then a request finding the bucket empty is answered 429 ``{"detail": "Rate
    limit exceeded"}`` with ``Retry-After`` (whole seconds, rounded up, at least 1) and
    ``retry-after-ms`` (milliseconds until a token is there, rounded up), and counted in
    ``rate_limited``. Every other answer (2xx, 4xx such as 404, those 429s) carries
    ``x-ratelimit-limit-requests`` (the bucket size), ``x-ratelimit-remaining-requests``
    (whole tokens left) and ``x-ratelimit-reset-requests`` (until the bucket is full, like
    ``1.5s``).

    ``list_order`` is the order of ``GET /v1/fine_tuning/jobs``: ``newest_first`` (creation
    order reversed, as the API does), ``oldest_first``, or ``shuffled``, a fixed pseudo-random
    order (by a hash of each id: the same on every run, and a job added later does not move
    the others, so paging with ``after`` sees every earlier job once). A page holds 20 jobs
    unless ``limit`` says otherwise, and at most 100: the cap the API is believed to have.
    """

    def __init__(
        self,
        *,
        api_key: str = "fake-nebius-key",
        host: str = "127.0.0.1",
        port: int = 0,
        rate_limit: float | None = None,
        rate_burst: int | None = None,
        list_order: ListOrder = "newest_first",
    ) -> None:
        if rate_limit is None and rate_burst is not None:
            raise ValueError("rate_burst needs a rate_limit")
        if rate_limit is not None and not 0 < rate_limit < math.inf:
            raise ValueError(f"rate_limit must be a positive number, not {rate_limit!r}")
        if rate_limit is not None and rate_burst is None:
            rate_burst = max(1, round(rate_limit))
        if rate_burst is not None and rate_burst < 1:
            raise ValueError(f"rate_burst must be at least 1, not {rate_burst!r}")
        if list_order not in ("newest_first", "oldest_first", "shuffled"):
            raise ValueError(f"unknown list_order {list_order!r}")
        self.api_key = api_key
        self.rate_limit = rate_limit
        self.rate_burst = rate_burst
        self.rate_limited = 0
        """429s answered by the rate limiter (not those queued with ``fail_next``)."""
        self.list_order = list_order
        self.jobs = {}
        self.files = {}
        self.file_contents = {}
        self.requests: dict[str, int] = {}
        self.datasets = {}
        self.dataset_rows = {}
        self.dataset_uploads = {}
        """Multipart dataset uploads by id; each one's ``parts`` list is what ``GET
        .../parts`` answers (a part sent is added there; a test may add records too)."""
        self.part_contents = {}
        """The bytes of each part sent, by part id."""
        self.dataset_sources = {}
        """The file a completed upload assembled, by the id of the dataset it made."""
        self.upload_completing_polls = 1
        """Polls a completed upload stays ``COMPLETING`` for before it is ``COMPLETED`` (or
        ``FAILED``, when the assembled bytes are not JSON Lines of objects)."""
        self.redirect_content = True
        """Whether ``GET /v1/files/{file_id}/content`` redirects to the storage (as the real
        service does) rather than answering with the content itself."""
        self.link_lifetime = 900.0
        """Seconds a signed storage link stays valid (``X-Amz-Expires``)."""
        self.models = {}
        """Custom models by the name the API gave them."""
        self.model_names = "full"
        """Names given to created models: ``base-model-LoRa:name-abcd`` (as the API does
        now) or ``name-abcd`` (as it did before)."""
        self.model_validating_polls = 2
        """Polls a created model stays ``validating`` for before it is active (or in error)."""
        self._file_scripts = {}
        self._host = host
        self._port = port
        self._faults: list[tuple[str | None, _Fault]] = []
        self._storage_faults = []
        self._ids = itertools.count(1)
        self._buckets: dict[str, Bucket] = {}
        self._created = []  # job ids in the order they were added
        self._positions = {}  # job id -> index in _created
        self._shuffled = SortedIds() if list_order == "shuffled" else None
        self._runner: web.AppRunner | None = None
        self._storage_runner: web.AppRunner | None = None
        self.url = ""
        self.storage_url = ""
        """The origin of the object storage that file content is redirected to."""
        self.storage_requests = 0
        """Requests the object storage answered."""
        self._signature = hashlib.sha256(api_key.encode()).hexdigest()[:32]

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def start(self) -> None:
        """Start serving; ``url`` is set once it listens."""
        self._runner = web.AppRunner(self._app(), access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._host, self._port)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.url = f"http://{host}:{port}"
        self._storage_runner = web.AppRunner(
            self._storage_app(), access_log=None, handle_signals=False
        )
        await self._storage_runner.setup()
        await web.TCPSite(self._storage_runner, self._host, 0).start()
        host, port = self._storage_runner.addresses[0][:2]
        self.storage_url = f"http://{host}:{port}"

    async def stop(self) -> None:
        """Stop serving and close every connection."""
        for runner in (self._runner, self._storage_runner):
            if runner is not None:
                await runner.cleanup()
        self._runner = self._storage_runner = None

    def session(self, **options: Any) -> AsyncSession:
        """An ``AsyncSession`` for this fake (``options`` go to the session as they are)."""
        return AsyncSession(self.api_key, base_url=self.url, **options)

    def transport(self) -> InProcessTransport:
        """A transport (``AsyncSession(transport=...)``) that hands each request to this
        fake in process, with no socket: ``fake.session(transport=fake.transport())``.

        It needs no ``async with fake``: a fake that is not listening gets ``url`` and
        ``storage_url`` that only such a transport answers (``http://localhost`` and
        ``http://127.0.0.2``); a listening one keeps its own, answered in process too.
        Everything runs as over a socket (the key, ``fail_next`` faults, the rate limit,
        uploads, redirects to the storage, a dropped connection), except what needs one: the
        session's stall watch on uploads and its proxies and TLS. It is a ``MockTransport``
        (``requests`` keeps every request); the session does not close it, ``close()`` does.
        """
        if not self.url:
            self.url, self.storage_url = IN_PROCESS_URL, IN_PROCESS_STORAGE_URL
        return InProcessTransport(self._app, self._storage_app, lambda: self.storage_url)

    # -- scripting -------------------------------------------------------------------
    def fail_next(
        self,
        status: int | Literal["drop", "lose-answer"] = 503,
        *,
        times: int = 1,
        retry_after: float | None = None,
        path: str | None = None,
    ) -> None:
        """Answer the next ``times`` requests (to paths containing ``path``, if given) with an
        error ``status`` (429 carries ``Retry-After`` when ``retry_after`` is set), drop the
        connection without an answer (``"drop"``), or do what the request asks and then drop
        the connection, so that the client never learns it was done (``"lose-answer"``)."""

        async def fault(request: web.Request, handler: Handler) -> web.StreamResponse:
            if status == "lose-answer":
                await self._answer(request, handler)
            if isinstance(status, str):
                if request.transport is not None:
                    request.transport.close()
                return web.Response()
            headers = None if retry_after is None else {"Retry-After": f"{retry_after:g}"}
            return error_answer(status, f"injected {status}", headers)

        self._faults.extend((path, fault) for _ in range(times))

    # -- the HTTP side ---------------------------------------------------------------

    def _app(self) -> web.Application:
        app = web.Application(middlewares=[self._middleware])
        handlers = [
            *self._job_routes(),
            *self._file_routes(),
            *self._operation_routes(),
            *self._dataset_routes(),
            *self._model_routes(),
        ]
        for route, handler in handlers:
            # an id is any one path segment, as in Starlette (aiohttp's own default also
            # turns away "{" and "}")
            path = _ANY_SEGMENT.sub(r"{\1:[^/]+}", route.template)
            app.router.add_route(route.method, path, handler)
        return app

    def _storage_app(self) -> web.Application:
        storage = web.Application()
        storage.router.add_get("/files/{file_id}", self._stored_content)
        return storage

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        self.requests[request.path] = self.requests.get(request.path, 0) + 1
        authorization = request.headers.get("Authorization")
        if authorization != f"Bearer {self.api_key}":
            return error_answer(401, "Invalid or missing API key")
        for index, (path, fault) in enumerate(self._faults):
            if path is None or path in request.path:
                del self._faults[index]
                return await fault(request, handler)
        if self.rate_limit is None or self.rate_burst is None:
            return await self._answer(request, handler)
        rate, size, now = self.rate_limit, self.rate_burst, time.monotonic()
        bucket = self._buckets.get(authorization)
        if bucket is None:
            bucket = self._buckets[authorization] = Bucket(size, now)
        wait = bucket.take(rate, size, now)
        headers = bucket.headers(rate, size)
        if wait > 0:
            self.rate_limited += 1
            headers["Retry-After"] = str(max(1, math.ceil(wait)))
            headers["retry-after-ms"] = str(math.ceil(wait * 1000))
            return error_answer(429, "Rate limit exceeded", headers)
        response = await self._answer(request, handler)
        if not response.prepared:
            response.headers.update(headers)
        return response

    @staticmethod
    async def _answer(request: web.Request, handler: Handler) -> web.StreamResponse:
        """The handler's answer; refused input as the API answers it (422 with FastAPI's
        ``detail`` list, 400 for a body that cannot be parsed), aiohttp's own errors (404,
        405, 413) as JSON."""
        try:
            return await handler(request)
        except Unprocessable as refused:
            return json_answer({"detail": refused.problems}, status=422)
        except Unparsable:
            return error_answer(400, "There was an error parsing the body")
        except web.HTTPException as error:
            return _from_exception(error)

"""AsyncSession: the one place that talks HTTP (the only module that imports aiohttp).

A call goes, top to bottom: an endpoint method (``_jobs``, ``_operations``, ``_files``)
describes it as a ``_routes.Call`` -> ``_perform`` (its deadline; uploads and downloads go
by ``_transfer``) -> ``_exchange`` (for each attempt a connection slot, a turn from the
budget and one request; then redirects, retries, or the route's cached decoder) ->
``_read_body`` (size cap). Everything that is not I/O lives in the pure modules ``_routes``,
``_urls``, ``_retry``, ``_errors``, ``_requests`` and ``_paging``.
"""

from __future__ import annotations

import asyncio
import io
import logging
import math
import os
import tempfile
import warnings
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext, suppress
from functools import cached_property, partial
from pathlib import Path
from ssl import SSLContext, create_default_context
from types import TracebackType
from typing import IO, Any, Self, TypeVar
from urllib.parse import urlsplit

import aiohttp
import anyio
from yarl import URL

from ._budget import AdaptiveBudget, RequestBudget
from ._checks import LOOPBACK_MIN_POLL_INTERVAL, MIN_POLL_INTERVAL, positive_seconds
from ._endpoints import Endpoints
from ._errors import (
    BAD_BODY,
    APIConnectionError,
    APIError,
    APIStatusError,
    APITimeoutError,
    BudgetRefusalError,
    ConfigurationError,
    NebiusError,
    RateLimitError,
    decode_error,
    status_error,
)
from ._file_slice import FileSlice
from ._hooks import Hooks, HookSet, RequestEvent, ResponseEvent, RetryEvent, hook_set
from ._inflate import SUPPORTED_ENCODINGS, BodyError, BodyTooLarge, Inflater
from ._network import (
    checked_headers,
    checked_proxy,
    checked_ssl,
    environment_proxy,
    hook_headers,
    with_query,
)
from ._raw import Exchange, captured
from ._redaction import KeyRedactor, storage_error_detail
from ._retry import RetryPolicy, is_retryable, parse_retry_after, wait_before_retry
from ._routes import Call, FilePart, Progress, Route, Upload, report_progress
from ._slots import Slots
from ._urls import DEFAULT_BASE_URL, is_loopback_base_url, is_loopback_host, normalize_base_url
from ._version import __version__

log = logging.getLogger("nebius_ft_async")

T = TypeVar("T")

DEFAULT_TIMEOUT = 60.0
"""Seconds one attempt may spend on the wire (not counting the wait for a free slot)."""
DEFAULT_CONNECT_TIMEOUT = 10.0
"""Seconds to open a TCP/TLS connection."""
DEFAULT_MAX_CONNECTIONS = 100
"""Requests in flight at once; further calls wait for a slot before their timeout starts."""
DEFAULT_MAX_RESPONSE_BYTES = 64 * 1024 * 1024
"""Largest response body read; a larger one is refused."""
MAX_REDIRECTS = 5
"""Redirects followed in one attempt."""

_READ_CHUNK = 256 * 1024
_PROXY_VARIABLES = "the proxy named by HTTPS_PROXY / HTTP_PROXY / ALL_PROXY (trust_env)"
_PROGRESS_EVERY = 0.1
_DOWNLOAD_CHUNK = 1024 * 1024
_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_PART_HEADERS = {"Content-Type": "application/octet-stream"}


class AsyncSession(Endpoints):
    """An async client for the Nebius Token Factory fine-tuning API.

    ::

        async with AsyncSession() as session:          # key from NEBIUS_API_KEY
            job = await session.get_job("ftjob-abc")
            async for event in session.iter_events(job.id):
                print(event.message)

    ``api_key`` defaults to ``NEBIUS_API_KEY``; ``base_url`` to ``NEBIUS_BASE_URL``, else
    ``https://api.tokenfactory.nebius.com`` (a trailing ``/v1`` is accepted). ``timeout`` and
    ``connect_timeout`` bound each attempt on the wire; ``max_connections`` bounds requests in
    flight; ``max_retries`` (default 2) and ``retry_policy`` say how failures are retried.
    Every call also takes the ``CallOptions`` keywords: ``timeout=`` (a deadline for the
    whole call, retries included), ``max_retries=``, ``extra_headers=`` and ``extra_query=``.

    Network: ``default_headers`` go with every request; the proxy comes from ``proxy=``, else
    (``trust_env``, on by default) from ``HTTPS_PROXY`` and its kin unless ``NO_PROXY``
    covers the host (the storage a download redirects to is looked up for its own host);
    ``ssl`` takes an ``ssl.SSLContext`` (or ``False`` for a loopback API);
    ``client_session`` is an ``aiohttp.ClientSession`` of yours to send through, which the
    session neither closes nor changes.

    ``hooks`` (a ``Hooks``, or several) are called as each request is sent, each answer
    received and each retry scheduled; ``nebius_ft_async.otel`` builds OpenTelemetry ones.

    ``ai_project_id`` scopes the endpoints that take one (creating and listing jobs, files,
    operations and custom models) to an AI Studio project; a call's own ``ai_project_id=``
    overrides it.

    Every request (each retry too) takes a turn from one ``budget``, an ``AdaptiveBudget``
    unless another ``RequestBudget`` is given: it slows every request of the session down
    when the server answers 429 and lets the pace grow back as answers come through.

    Use it as ``async with``, or call ``await session.close()`` when done.
    """

    def __init__(
        self,
        api_key: str | None = None,
        *,
        base_url: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        max_retries: int | None = None,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        retry_policy: RetryPolicy | None = None,
        allow_insecure_http: bool = False,
        budget: RequestBudget | None = None,
        default_headers: Mapping[str, str] | None = None,
        proxy: str | None = None,
        trust_env: bool = True,
        ssl: SSLContext | bool | None = None,
        client_session: aiohttp.ClientSession | None = None,
        ai_project_id: str | None = None,
        hooks: Hooks | Sequence[Hooks] | None = None,
    ) -> None:
        key = api_key if api_key is not None else os.environ.get("NEBIUS_API_KEY", "")
        key = key.strip()
        if not key:
            raise ConfigurationError(
                "No API key: pass api_key=... or set the NEBIUS_API_KEY environment variable"
            )
        if not (key.isascii() and key.isprintable()):
            raise ConfigurationError(
                "The API key holds characters an HTTP header cannot carry "
                "(control characters or non-ASCII); check NEBIUS_API_KEY or api_key"
            )
        if max_connections < 1:
            raise ConfigurationError(f"max_connections must be at least 1, got {max_connections}")
        policy = retry_policy or RetryPolicy()
        if max_retries is not None:
            policy = RetryPolicy(
                max_retries=max_retries,
                initial_wait=policy.initial_wait,
                max_wait=policy.max_wait,
                max_retry_after=policy.max_retry_after,
                sleep=policy.sleep,
            )
        self.base_url = normalize_base_url(
            base_url or os.environ.get("NEBIUS_BASE_URL") or DEFAULT_BASE_URL,
            allow_insecure_http=allow_insecure_http,
        )
        self.retry_policy = policy
        self._allow_insecure_http = allow_insecure_http
        parts = urlsplit(self.base_url)
        self._origin = f"{parts.scheme}://{parts.netloc}"
        self._path_prefix = parts.path  # a base URL's own path, such as /api
        self.budget: RequestBudget = budget or AdaptiveBudget(
            max_pause=policy.max_retry_after, sleep=policy.sleep
        )
        self.min_poll_interval = (
            LOOPBACK_MIN_POLL_INTERVAL if is_loopback_base_url(self.base_url) else MIN_POLL_INTERVAL
        )
        self.max_response_bytes = max_response_bytes
        if ai_project_id is not None and (
            not isinstance(ai_project_id, str) or not ai_project_id.strip()
        ):
            raise ConfigurationError(
                f"ai_project_id must be a non-empty string, got {ai_project_id!r}"
            )
        self.ai_project_id = ai_project_id
        """The AI Studio project that creating and listing work within (``None``: the
        account's default)."""
        self._hooks = hook_set(hooks)
        if client_session is not None and not isinstance(client_session, aiohttp.ClientSession):
            raise ConfigurationError(
                "client_session must be an aiohttp.ClientSession, "
                f"got {type(client_session).__name__}"
            )
        # a client of the user's may decompress bodies itself: then it asks for them too
        self._inflate = client_session is None or not client_session.auto_decompress
        self._headers = {
            "Accept": "application/json",
            **({"Accept-Encoding": ", ".join(SUPPORTED_ENCODINGS)} if self._inflate else {}),
            "User-Agent": f"nebius-ft-async/{__version__}",
            **_configured_headers(default_headers),
            "Authorization": f"Bearer {key}",
        }
        self._ssl = checked_ssl(ssl, self.base_url)
        if proxy is not None:
            self._proxy: str | None = checked_proxy(proxy)
        elif trust_env and client_session is None:
            found = environment_proxy(self.base_url)
            self._proxy = None if found is None else checked_proxy(found, _PROXY_VARIABLES)
        else:
            self._proxy = None
        # another origin (the storage a download redirects to) has its own environment proxy
        self._storage_proxy_from_env = proxy is None and trust_env and client_session is None
        self._own_client = client_session is None
        # Sent with each request when the client is the user's (their defaults stay theirs),
        # and the key is when a proxy is used: aiohttp copies a session's default headers
        # into the CONNECT request, where an Authorization header would reach the proxy (as
        # Proxy-Authorization) in clear text.
        self._client_headers = dict(self._headers)
        if not self._own_client:
            self._request_headers: dict[str, str] | None = self._headers
        elif self._proxy is not None:
            self._request_headers = {"Authorization": self._client_headers.pop("Authorization")}
        else:
            self._request_headers = None
        self._request_options: dict[str, Any] = {}
        if not self._own_client:
            if proxy is not None:
                self._request_options["proxy"] = self._proxy
            if ssl is not None:
                self._request_options["ssl"] = self._ssl
        self._key = key
        self._timeout = aiohttp.ClientTimeout(total=timeout, sock_connect=connect_timeout)
        # uploads and downloads may take long: ``timeout`` bounds silence on the wire instead
        self._transfer_timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=connect_timeout, sock_read=timeout
        )
        self._max_connections = max_connections
        self._slots = Slots(max_connections)
        self._client: aiohttp.ClientSession | None = client_session
        self._foreign_client: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False

    def __repr__(self) -> str:
        return f"<AsyncSession base_url={self.base_url!r}>"

    async def __aenter__(self) -> Self:
        self._client_session()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Close every connection (not those of a ``client_session`` you gave: that one stays
        yours to close). The session cannot be used afterwards."""
        self._closed = True
        if self._client is not None and self._own_client:
            await self._client.close()
        if self._foreign_client is not None:
            await self._foreign_client.close()

    @property
    def closed(self) -> bool:
        """True once ``close()`` was called."""
        return self._closed

    def __del__(self, _warn: Any = warnings.warn) -> None:
        client = getattr(self, "_client", None)
        if client is not None and getattr(self, "_own_client", False) and not client.closed:
            _warn(
                f"Unclosed {self!r}: use 'async with AsyncSession()' or 'await session.close()'",
                ResourceWarning,
                source=self,
            )

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
                timeout=self._timeout,
                auto_decompress=False,  # _inflate does it, and checks the stream is whole
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
            proxy = None if found is None else checked_proxy(found, _PROXY_VARIABLES)
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
                timeout=self._timeout,
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

    # -- the request path ------------------------------------------------------------

    def _perform(self, call: Call[T]) -> Awaitable[T]:
        """Send ``call`` and read its answer with its route's decoder.

        A call whose route is not ``idempotent`` is retried only when the server cannot have
        acted on it: the connection failed before anything was sent, or the answer was 429.
        Plain calls need no timer of their own: every wait on their path (the budget, a
        connection slot, each attempt on the wire, each retry) is bounded by the deadline.
        """
        if call.max_retries is not None:
            _check_retries(call.max_retries)
        if call.upload is not None or call.download_to is not None:
            return self._transfer(call)
        deadline = None if call.timeout is None else self._deadline(call.timeout)
        body = None if call.json is None else self._json_body(call.json)
        return self._exchange(call, body, None, self._timeout, deadline)

    async def _transfer(self, call: Call[T]) -> T:
        """An upload or a download: bounded by silence on the wire (the session's
        ``timeout``), not by a total time; the call's own ``timeout`` bounds it all."""
        deadline = None if call.timeout is None else self._deadline(call.timeout)
        try:
            async with asyncio.timeout_at(deadline):
                if call.upload is not None:
                    return await self._upload(call, call.upload, deadline)
                assert call.download_to is not None
                return await self._download(call, call.download_to, deadline)
        except TimeoutError:
            failure = self._deadline_error(call)
        raise failure  # outside the except block: nothing of aiohttp's rides along

    async def _upload(self, call: Call[T], upload: Upload | FilePart, deadline: float | None) -> T:
        """POST a multipart form with ``fields`` and one file part, or a part of a file as the
        whole body, streamed from disk.

        Retried as the route allows: a multipart upload not once the body may have reached
        the server (a retry would upload twice); a dataset part as a read.
        A server that stops taking the body (it reads the headers, then nothing) ends the
        upload with ``APITimeoutError`` once nothing was sent for the session's ``timeout``:
        silence on the wire ends a transfer in either direction.
        """
        silence = self._transfer_timeout.sock_read or DEFAULT_TIMEOUT
        stall = _StallWatch(silence, call.on_progress)

        @contextmanager
        def form() -> Iterator[tuple[Any, dict[str, str] | None]]:
            if isinstance(upload, FilePart):
                with (
                    FileSlice(upload.file, upload.offset, upload.length) as part,
                    stall.watching(part, upload.length),
                ):
                    yield part, _PART_HEADERS | {"Content-Length": str(upload.length)}
                return
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

        try:
            result = await self._exchange(call, form, None, self._transfer_timeout, deadline)
            if call.on_progress is not None:
                report_progress(call.on_progress, stall.size, stall.size)
            return result
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if not stall.fired or current is None or current.cancelling() > 1:
                raise  # the caller's own cancellation (or the deadline's) stays one
            current.uncancel()
            path = self._path_prefix + call.path
            failure = APITimeoutError(
                f"POST {path} stalled: the server took none of the body for {silence:g} s",
                method="POST",
                path=path,
            )
        raise failure

    async def _download(self, call: Call[T], destination: Path, deadline: float | None) -> T:
        """Stream the answer into ``destination`` atomically.

        The body goes to a temporary file beside the destination (made before anything is
        sent, so a folder that cannot be written fails at once), which is renamed over it
        only once the whole body has arrived; a broken or short download leaves nothing
        under the destination's name. Retried attempts start the file afresh.
        """
        if await anyio.Path(destination).is_dir():
            raise IsADirectoryError(f"cannot download to {destination}: it is a directory")
        try:
            handle, name = await anyio.to_thread.run_sync(
                partial(tempfile.mkstemp, dir=destination.parent, prefix=".", suffix=".part")
            )
        except OSError as exc:
            raise type(exc)(
                exc.errno, f"cannot download to {destination}: {exc.strerror}"
            ) from None
        os.close(handle)
        temporary = Path(name)

        async def save(response: aiohttp.ClientResponse) -> bytes:
            received = 0
            async with await anyio.open_file(temporary, "wb") as file:
                with _as_transport_error():
                    inflater = _inflater(response, None) if self._inflate else None
                    async for chunk in response.content.iter_chunked(_DOWNLOAD_CHUNK):
                        received += len(chunk)
                        await file.write(chunk if inflater is None else inflater.feed(chunk))
                        if call.on_progress is not None:
                            report_progress(call.on_progress, received, response.content_length)
                    if inflater is not None:
                        await file.write(inflater.finish())
            expected = response.content_length
            if expected is not None and received != expected:
                raise aiohttp.ClientPayloadError(f"got {received} of {expected} bytes")
            return b""

        try:
            result = await self._exchange(call, None, save, self._transfer_timeout, deadline)
            await anyio.to_thread.run_sync(temporary.replace, destination)
            return result
        finally:
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(partial(temporary.unlink, missing_ok=True))

    async def _exchange(
        self,
        call: Call[T],
        body: RequestBody | None,
        consume: Consume | None,
        wire: aiohttp.ClientTimeout,
        deadline: float | None,
    ) -> T:
        """The request path, in one coroutine: for each attempt a connection slot, a turn
        from the budget and the request; then its answer decoded, a redirect followed (to
        another origin, such as object storage, without the session's headers and outside the
        budget), or the failure retried or raised.

        A 2xx body is read by ``consume`` if given, else in full. A retry whose wait would
        end past ``deadline`` (loop time) is not attempted: the last error is raised at once
        instead of sleeping into a sure timeout.
        """
        route = call.route
        method, template = route.method, route.template
        path = self._path_prefix + call.path  # what is requested, and what messages show
        if call.extra_query:
            path = with_query(path, call.extra_query)
        if route.project_scoped or call.ai_project_id is not None:
            path = self._in_project(route, path, call.ai_project_id)
        headers = self._request_headers
        if call.extra_headers:
            headers = {**(headers or {}), **checked_headers("extra_headers", call.extra_headers)}
        url = target = URL(self._origin + path, encoded=True)
        slots, hooks = self._slots, self._hooks
        attempt, redirects, schedule = 1, 0, None
        foreign = False  # whether target is on another origin (a storage redirect's)
        try:
            while True:
                # the slot first, then the turn: a request queued for a connection takes its
                # turn only when it can go, so a 429 that arrives meanwhile still holds it back
                if not slots.try_take():
                    await slots.take(deadline)
                failure: APIError | None = None
                sent: RequestEvent | None = None
                try:
                    budget = self.budget
                    # another origin's requests are not the API's to limit
                    wait = None if foreign else await budget.acquire(deadline)
                    if wait is not None:
                        raise self._refusal(method, path, wait, deadline, attempt)
                    timeout = wire
                    if deadline is not None:
                        timeout = _within(wire, deadline - asyncio.get_running_loop().time())
                    # after the waits: close() may have run, or the loop be another one
                    client, options = self._client, self._request_options
                    if foreign:
                        client = self._client_for_another_origin()
                        options = self._foreign_options(target)
                    elif (
                        client is None
                        or self._closed
                        or not self._own_client
                        or self._loop is not asyncio.get_running_loop()
                    ):
                        client = self._client_session()
                    if hooks is not None:
                        sent = self._request_sent(hooks, method, template, target, attempt, foreign)
                    try:
                        with _NO_BODY if body is None else body() as (data, body_headers):
                            if headers is not None and not foreign:
                                body_headers = {**headers, **(body_headers or {})}
                            if sent is not None and sent.headers and not foreign:
                                body_headers = {
                                    **(body_headers or {}),
                                    **hook_headers(sent.headers),
                                }
                            async with client.request(
                                method,
                                target,
                                headers=body_headers,
                                data=data,
                                allow_redirects=False,
                                timeout=timeout,
                                **options,
                            ) as response:
                                status = response.status
                                response_headers = response.headers
                                if not foreign:
                                    budget.record(status, response_headers)
                                length = response_headers.get("Content-Length")
                                if consume is not None and 200 <= status < 300:
                                    raw_body = await consume(response)
                                elif (
                                    length is not None
                                    and length.isdecimal()
                                    and int(length) <= self.max_response_bytes
                                    and "Content-Encoding" not in response_headers
                                ):  # a body of known length, not compressed: read it whole
                                    raw_body = await response.read()
                                else:
                                    raw_body = await self._read_body(response, method, path)
                                reason = response.reason
                    # failures are kept, not raised here: aiohttp's exception, whose
                    # request_info holds the Authorization header, must not ride along as
                    # __context__ of the error raised
                    except TimeoutError as exc:
                        failure = APITimeoutError(
                            f"{method} {path} timed out: {_timeout_words(timeout)}",
                            method=method,
                            path=path,
                            request_sent=not isinstance(exc, aiohttp.ConnectionTimeoutError),
                        )
                    except aiohttp.ClientError as exc:
                        # another origin's errors may quote the signed link: its host only
                        detail = f" from {target.host}" if foreign else f": {exc}"
                        failure = APIConnectionError(
                            f"{method} {path} failed: {type(exc).__name__}{detail}",
                            method=method,
                            path=path,
                            request_sent=not isinstance(exc, aiohttp.ClientConnectorError),
                        )
                    except APIError as exc:  # reading the body: too large, a stalled download
                        failure = exc
                    except BaseException as exc:  # a cancellation: still told
                        if sent is not None:
                            self._response_received(sent, None, None, type(exc).__name__)
                        raise
                finally:
                    slots.give_back()
                if sent is not None:
                    if failure is not None:
                        self._response_received(sent, None, None, type(failure).__name__)
                    else:
                        self._response_received(sent, status, response_headers, None)
                if failure is None:
                    if status < 300:
                        sink = captured.get()
                        if sink is not None:  # a raw view was asked for (with_raw_response)
                            sink.append(
                                Exchange(method, template, path, status, response_headers, raw_body)
                            )
                        try:
                            return route.decoder.decode(raw_body)
                        except BAD_BODY as exc:
                            raise self._decode_error(
                                status, response_headers, raw_body, method, path, exc
                            ) from None
                    if status in _REDIRECT_STATUSES and "location" in response_headers:
                        redirects += 1
                        if redirects > MAX_REDIRECTS:
                            failure = APIStatusError(
                                f"{method} {path}: more than {MAX_REDIRECTS} redirects",
                                status_code=status,
                                method=method,
                                path=path,
                            )
                        else:
                            try:
                                target = _redirect_target(
                                    target,
                                    response_headers["location"],
                                    status,
                                    method,
                                    path,
                                    self._allow_insecure_http,
                                )
                                foreign = target.origin() != url.origin()
                                continue
                            except APIStatusError as exc:
                                failure = exc
                    else:
                        if foreign:
                            raw_body = storage_error_detail(raw_body)
                        failure = status_error(
                            status,
                            reason or "",
                            self._redact(raw_body),
                            method=method,
                            path=path,
                            request_id=_request_id(response_headers),
                            retry_after=parse_retry_after(response_headers),
                        )
                self._redactor.error(failure)  # a server may echo the key in any spelling
                failure.attempts = attempt
                policy = self.retry_policy
                retries = policy.max_retries if call.max_retries is None else call.max_retries
                retry_after = getattr(failure, "retry_after", None)
                if (
                    not is_retryable(failure, idempotent=route.idempotent)
                    or attempt > retries
                    or (retry_after is not None and retry_after > policy.max_retry_after)
                ):
                    raise failure
                schedule = schedule or policy.schedule()
                wait = wait_before_retry(next(schedule), retry_after)
                if deadline is not None and asyncio.get_running_loop().time() + wait > deadline:
                    raise failure
                if hooks is not None:
                    hooks.retried(
                        RetryEvent(method, template, path, attempt, _failure_name(failure), wait)
                    )
                log.info(
                    "retrying %s %s after %s (attempt %d of %d), waiting %.2f s",
                    method,
                    path,
                    _failure_name(failure),
                    attempt,
                    retries + 1,
                    wait,
                )
                # an API 429's Retry-After is waited out in the budget; another origin's here
                if foreign or not (isinstance(failure, RateLimitError) and retry_after is not None):
                    await policy.sleep(wait)
                attempt, redirects, target, foreign = attempt + 1, 0, url, False
        except (TimeoutError, APITimeoutError) as error:  # TimeoutError: waiting for a slot
            if isinstance(error, APITimeoutError) and (
                deadline is None or asyncio.get_running_loop().time() < deadline
            ):
                raise
            deadline_failure = self._deadline_error(call)
        raise deadline_failure  # outside the except block: nothing of aiohttp's rides along

    def _in_project(self, route: Route[Any], path: str, ai_project_id: str | None) -> str:
        """``path`` with the call's (else the session's) ``ai_project_id``, if the route
        takes one."""
        if not route.project_scoped:
            raise ValueError(
                f"ai_project_id is not taken by {route.method} {route.template}: only "
                "creating and listing work within a project"
            )
        project = self.ai_project_id if ai_project_id is None else ai_project_id
        if project is None:
            return path
        if not isinstance(project, str) or not project.strip():
            raise ValueError(f"ai_project_id must be a non-empty string, got {project!r}")
        return with_query(path, {"ai_project_id": project})

    def _deadline(self, timeout: float) -> float:
        return asyncio.get_running_loop().time() + positive_seconds("timeout", timeout)

    def _deadline_error(self, call: Call[Any]) -> APITimeoutError:
        method, path = call.route.method, self._path_prefix + call.path
        return APITimeoutError(
            f"{method} {path} did not finish within its {call.timeout:g} s deadline",
            method=method,
            path=path,
        )

    def _decode_error(
        self,
        status: int,
        headers: Mapping[str, str],
        body: bytes,
        method: str,
        path: str,
        exc: Exception,
    ) -> NebiusError:
        return self._redactor.error(
            decode_error(
                status,
                _content_type(headers),
                self._redact(body),
                str(exc),
                method=method,
                path=path,
                request_id=_request_id(headers),
            )
        )

    def _refusal(
        self, method: str, path: str, wait: float, deadline: float | None, attempt: int
    ) -> BudgetRefusalError:
        """The error of a request the budget would not let go before ``deadline``."""
        late = deadline is not None and asyncio.get_running_loop().time() + wait > deadline
        refusal = BudgetRefusalError(
            f"{method} {path} not sent: rate limited for another {wait:.3g} s"
            + (", past the call's deadline" if late else ""),
            status_code=429,
            retry_after=wait,
            method=method,
            path=path,
        )
        refusal.attempts = attempt
        self._redactor.error(refusal)  # the path may carry the key, in extra_query say
        return refusal

    def _request_sent(
        self, hooks: HookSet, method: str, route: str, url: URL, attempt: int, foreign: bool
    ) -> RequestEvent:
        # another origin's URL is a storage link whose query is its signature: left out
        path, origin = (
            (url.raw_path, str(url.origin())) if foreign else (url.raw_path_qs, self._origin)
        )
        event = RequestEvent(
            method, route, path, origin, attempt, asyncio.get_running_loop().time()
        )
        hooks.sent(event)
        return event

    def _response_received(
        self,
        sent: RequestEvent,
        status: int | None,
        headers: Mapping[str, str] | None,
        error: str | None,
    ) -> None:
        assert self._hooks is not None
        if status is not None and status >= 400:
            error = str(status)
        elapsed = asyncio.get_running_loop().time() - sent.started
        request_id = None if headers is None else _request_id(headers)
        self._hooks.received(ResponseEvent(sent, status, error, elapsed, request_id))

    @cached_property
    def _redactor(self) -> KeyRedactor:
        return KeyRedactor(self._key)  # built on the first error, not on the hot path

    def _redact(self, body: bytes) -> bytes:
        """The body with the API key blanked out, for a server that echoes the request."""
        return self._redactor.bytes(body)

    def _json_body(self, encoded: bytes) -> RequestBody:
        headers = {"Content-Type": "application/json"}  # added to the session's own
        return lambda: nullcontext((encoded, headers))

    async def _read_body(
        self,
        response: aiohttp.ClientResponse,
        method: str,
        path: str,
    ) -> bytes:
        """The whole body, refusing one larger than ``max_response_bytes`` once decompressed;
        a compressed body must reach the end of its stream (else a transport error)."""
        cap = self.max_response_bytes
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
        raise decode_error(
            response.status,
            _content_type(response.headers),
            b"",
            f"body larger than the {cap} byte limit (max_response_bytes)",
            method=method,
            path=path,
            request_id=_request_id(response.headers),
        )


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


def _request_id(headers: Mapping[str, str]) -> str | None:
    return headers.get("x-request-id") or headers.get("request-id")


def _content_type(headers: Mapping[str, str]) -> str:
    return headers.get("content-type", "").partition(";")[0].strip()


RequestBody = Callable[[], AbstractContextManager[tuple[Any, dict[str, str] | None]]]
"""Makes one attempt's request body: the data for aiohttp and the headers to send with it."""
Consume = Callable[[aiohttp.ClientResponse], Awaitable[bytes]]
"""Reads a 2xx response some other way than into memory (a download to disk)."""

_NO_BODY: AbstractContextManager[tuple[Any, dict[str, str] | None]] = nullcontext((None, None))


def _within(wire: aiohttp.ClientTimeout, seconds: float) -> aiohttp.ClientTimeout:
    """``wire`` with its total cut to ``seconds`` (the time left before a deadline)."""
    total = seconds if wire.total is None else min(wire.total, seconds)
    return aiohttp.ClientTimeout(
        total=max(total, 0.0001),
        sock_connect=wire.sock_connect,
        sock_read=wire.sock_read,
        ceil_threshold=math.inf,  # the deadline to the millisecond, not rounded up
    )


def _timeout_words(wire: aiohttp.ClientTimeout) -> str:
    if wire.total is not None:
        return f"no full answer within {wire.total:g} s"
    return f"nothing on the wire for {wire.sock_read:g} s"


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


def _configured_headers(headers: Mapping[str, str] | None) -> dict[str, str]:
    try:
        return checked_headers("default_headers", headers)
    except ValueError as error:
        raise ConfigurationError(str(error)) from None


def _check_retries(max_retries: int) -> None:
    if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
        raise ValueError(f"max_retries must be a whole number of at least 0, got {max_retries!r}")


def _failure_name(error: APIError) -> str:
    if isinstance(error, APIStatusError):
        return f"HTTP {error.status_code}"
    return type(error).__name__


def _redirect_target(
    url: URL, location: str, status: int, method: str, path: str, allow_insecure_http: bool
) -> URL:
    """Where a redirect of a GET points; else an error.

    Another origin is followed (downloads are redirected to object storage), but never with
    the session's headers: the Authorization header is only ever sent to the configured
    origin. A Location with credentials, or plain ``http://`` to a host that is not loopback
    (unless ``allow_insecure_http``), is refused; the Location itself is never echoed, as a
    storage URL's query is its signature.
    """
    if method != "GET":
        raise APIStatusError(
            f"HTTP {status} on {method} {path}: redirects are only followed for GET requests",
            status_code=status,
            method=method,
            path=path,
        )
    try:
        target = url.join(URL(location, encoded="%" in location))  # a signed link as signed
        host = target.host
        credentials = target.user is not None or target.password is not None
        if target.scheme not in ("http", "https") or not host:
            raise ValueError(location)
    except ValueError:
        raise APIStatusError(
            f"HTTP {status} on {method} {path}: the redirect's Location is not a valid URL",
            status_code=status,
            method=method,
            path=path,
        ) from None
    if credentials:  # never echoed: they are someone's secret
        raise APIStatusError(
            f"HTTP {status} on {method} {path}: refusing to follow a redirect whose Location "
            "carries credentials",
            status_code=status,
            method=method,
            path=path,
        )
    if target.scheme == "http" and not allow_insecure_http and not is_loopback_host(host):
        raise APIStatusError(
            f"HTTP {status} on {method} {path}: refusing to follow a redirect to plain http:// "
            f"on {host} (pass allow_insecure_http=True to allow it)",
            status_code=status,
            method=method,
            path=path,
        )
    return target

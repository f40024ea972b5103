"""AsyncSession: settings, lifecycle and the attempt loop of every call.

A call goes, top to bottom: an endpoint method (``_jobs``, ``_operations``, ``_files``, ...)
describes it as a ``_routes.Call`` -> ``_perform`` (its deadline; uploads and downloads go
by ``_transfer``) -> ``_exchange`` (for each attempt a connection slot, a turn from the
budget, the hooks and one ``WireRequest``; then redirects, retries, or the route's cached
decoder) -> the transport's ``send`` (``_aiohttp_transport``, the only module that imports
aiohttp: connections, proxies, TLS, streamed bodies, the size cap). Everything that is not
I/O lives in the pure modules ``_routes``, ``_wire``, ``_urls``, ``_retry``, ``_errors``,
``_requests`` and ``_paging``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import tempfile
import warnings
from collections.abc import Awaitable, Mapping, Sequence
from functools import cached_property, partial
from pathlib import Path
from ssl import SSLContext
from types import MappingProxyType, TracebackType
from typing import Any, Self, TypeVar
from urllib.parse import urlsplit

import anyio
from yarl import URL

from ._aiohttp_transport import (
    PROXY_VARIABLES,
    AiohttpTransport,
    ClientSession,
    checked_client_session,
    inflates_for,
)
from ._budget import AdaptiveBudget, RequestBudget
from ._checks import LOOPBACK_MIN_POLL_INTERVAL, MIN_POLL_INTERVAL, positive_seconds
from ._endpoints import Endpoints
from ._errors import (
    BAD_BODY,
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
from ._hooks import Hooks, HookSet, RequestEvent, ResponseEvent, RetryEvent, hook_set
from ._inflate import SUPPORTED_ENCODINGS
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
from ._routes import Call, FilePart, Route, Upload
from ._slots import Slots
from ._urls import DEFAULT_BASE_URL, is_loopback_base_url, is_loopback_host, normalize_base_url
from ._version import __version__
from ._wire import AsyncTransport, WireRequest, WireTimeout, content_type, request_id

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

_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_JSON_HEADERS = {"Content-Type": "application/json"}
_NO_HEADERS: Mapping[str, str] = MappingProxyType({})


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
        client_session: ClientSession | None = None,
        ai_project_id: str | None = None,
        hooks: Hooks | Sequence[Hooks] | None = None,
        transport: AsyncTransport | None = None,
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
        client_session = checked_client_session(client_session)
        # a client of the user's may decompress bodies itself: then it asks for them too
        inflate = inflates_for(client_session)
        headers = {
            "Accept": "application/json",
            **({"Accept-Encoding": ", ".join(SUPPORTED_ENCODINGS)} if inflate else {}),
            "User-Agent": f"nebius-ft-async/{__version__}",
            **_configured_headers(default_headers),
            "Authorization": f"Bearer {key}",
        }
        self._headers = MappingProxyType(headers)  # what every request carries, read-only
        if transport is not None:
            options = {"proxy=": proxy, "ssl=": ssl, "client_session=": client_session}
            given = [name for name, value in options.items() if value is not None]
            if given:
                raise ConfigurationError(
                    f"transport= sends every request itself: {', '.join(given)} cannot apply"
                )
            self._transport: AsyncTransport = transport
            self._own_transport = False  # the caller's, as a client_session is: not closed here
        else:
            self._transport = self._aiohttp_transport(
                headers, proxy, trust_env, ssl, max_connections, client_session, inflate
            )
            self._own_transport = True
        self._key = key
        self._timeout = WireTimeout(total=timeout, connect=connect_timeout)
        # uploads and downloads may take long: ``timeout`` bounds silence on the wire instead
        self._transfer_timeout = WireTimeout(total=None, connect=connect_timeout, read=timeout)
        self._slots = Slots(max_connections)
        self._closed = False

    def _aiohttp_transport(
        self,
        headers: dict[str, str],
        proxy: str | None,
        trust_env: bool,
        ssl: SSLContext | bool | None,
        max_connections: int,
        client_session: ClientSession | None,
        inflate: bool,
    ) -> AsyncTransport:
        """The transport of a session not given one: aiohttp, with its proxy looked up."""
        checked = checked_ssl(ssl, self.base_url)
        if proxy is not None:
            found_proxy: str | None = checked_proxy(proxy)
        elif trust_env and client_session is None:
            found = environment_proxy(self.base_url)
            found_proxy = None if found is None else checked_proxy(found, PROXY_VARIABLES)
        else:
            found_proxy = None
        return AiohttpTransport(
            headers=headers,
            proxy=found_proxy,
            proxy_given=proxy is not None,
            # another origin (the storage a download redirects to) has its own proxy
            storage_proxy_from_env=proxy is None and trust_env and client_session is None,
            ssl=checked,
            ssl_given=ssl is not None,
            max_connections=max_connections,
            client_session=client_session,
            inflate=inflate,
        )

    def __repr__(self) -> str:
        return f"<AsyncSession base_url={self.base_url!r}>"

    async def __aenter__(self) -> Self:
        self._transport.ready()
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
        if self._own_transport:
            await self._transport.close()

    @property
    def closed(self) -> bool:
        """True once ``close()`` was called."""
        return self._closed

    def __del__(self, _warn: Any = warnings.warn) -> None:
        transport = getattr(self, "_transport", None)
        if (
            transport is not None
            and getattr(self, "_own_transport", False)
            and transport.unclosed()
        ):
            _warn(
                f"Unclosed {self!r}: use 'async with AsyncSession()' or 'await session.close()'",
                ResourceWarning,
                source=self,
            )

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
        return self._exchange(call, call.json, None, self._timeout, deadline)

    async def _transfer(self, call: Call[T]) -> T:
        """An upload or a download: bounded by silence on the wire (the session's
        ``timeout``), not by a total time; the call's own ``timeout`` bounds it all.

        An upload is retried as its route allows: a multipart upload not once the body may
        have reached the server (a retry would upload twice); a dataset part as a read. A
        server that stops taking the body ends the attempt with ``APITimeoutError`` once
        nothing was sent for the session's ``timeout``: silence on the wire ends a transfer
        in either direction.
        """
        deadline = None if call.timeout is None else self._deadline(call.timeout)
        try:
            async with asyncio.timeout_at(deadline):
                if call.upload is not None:  # streamed from disk (see _aiohttp_transport)
                    return await self._exchange(
                        call, call.upload, None, self._transfer_timeout, deadline
                    )
                assert call.download_to is not None
                return await self._download(call, call.download_to, deadline)
        except TimeoutError:
            failure = self._deadline_error(call)
        raise failure  # outside the except block: nothing of aiohttp's rides along

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

        try:
            result = await self._exchange(call, None, temporary, self._transfer_timeout, deadline)
            await anyio.to_thread.run_sync(temporary.replace, destination)
            return result
        finally:
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(partial(temporary.unlink, missing_ok=True))

    async def _exchange(
        self,
        call: Call[T],
        body: bytes | Upload | FilePart | None,
        sink: Path | None,
        wire: WireTimeout,
        deadline: float | None,
    ) -> T:
        """The request path, in one coroutine: for each attempt a connection slot, a turn
        from the budget and the request; then its answer decoded, a redirect followed (to
        another origin, such as object storage, without the session's headers and outside the
        budget), or the failure retried or raised.

        A 2xx body goes to ``sink`` if given, else is read in full. A retry whose wait would
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
        headers = None  # besides the transport's own (the key, the defaults)
        if call.extra_headers:
            headers = checked_headers("extra_headers", call.extra_headers)
        if call.json is not None:
            headers = {**(headers or {}), **_JSON_HEADERS}
        url = target = URL(self._origin + path, encoded=True)
        slots, hooks, transport = self._slots, self._hooks, self._transport
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
                        timeout = wire.within(deadline - asyncio.get_running_loop().time())
                    if self._closed:  # after the waits: close() may have run meanwhile
                        raise NebiusError("this AsyncSession is closed")
                    transport.ready()  # a connection in this event loop
                    request_headers = None if foreign else headers
                    if hooks is not None:
                        sent = self._request_sent(hooks, method, template, target, attempt, foreign)
                        if sent.headers and not foreign:
                            request_headers = {
                                **(request_headers or {}),
                                **hook_headers(sent.headers),
                            }
                    try:
                        answer = await transport.send(
                            WireRequest(
                                method,
                                target,
                                path,
                                timeout,
                                self.max_response_bytes,
                                _NO_HEADERS if foreign else self._headers,
                                request_headers,
                                body,
                                foreign,
                                sink,
                                call.on_progress,
                                None if foreign else budget.record,
                            )
                        )
                    except APIError as exc:  # raised outside aiohttp's except: no __context__
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
                        self._response_received(sent, answer.status, answer.headers, None)
                if failure is None:
                    status, response_headers, raw_body = answer.status, answer.headers, answer.body
                    if status < 300:
                        raw = captured.get()
                        if raw is not None:  # a raw view was asked for (with_raw_response)
                            raw.append(
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
                            answer.reason,
                            self._redact(raw_body),
                            method=method,
                            path=path,
                            request_id=request_id(response_headers),
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
                content_type(headers),
                self._redact(body),
                str(exc),
                method=method,
                path=path,
                request_id=request_id(headers),
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
        answer_id = None if headers is None else request_id(headers)
        self._hooks.received(ResponseEvent(sent, status, error, elapsed, answer_id))

    @cached_property
    def _redactor(self) -> KeyRedactor:
        return KeyRedactor(self._key)  # built on the first error, not on the hot path

    def _redact(self, body: bytes) -> bytes:
        """The body with the API key blanked out, for a server that echoes the request."""
        return self._redactor.bytes(body)


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

"""Running a call: its attempts, from a connection slot to a decoded answer.

``CallRunner.perform`` takes a ``_routes.Call`` and builds its ``WireRequest`` once
(``request``). Then, for each attempt (``_attempt``): a connection slot, a turn from the
budget, the hooks and the transport's ``send``. Its answer is decoded with the route's
cached decoder, a redirect is followed (``_redirected``: to another origin,
such as object storage, without the session's headers and outside the budget), or the
failure is retried or raised (``_retry_wait``). Uploads and downloads (``_transfer``,
``_download``) are bounded by silence on the wire, not by a total time. Every step takes
the call, or its request, rather than their pieces.
"""

from __future__ import annotations

import asyncio
import logging
import os
import tempfile
from collections.abc import Awaitable, Iterator, Mapping
from functools import cached_property, partial
from pathlib import Path
from types import MappingProxyType
from typing import Any, TypeVar

import anyio
from msgspec.structs import replace
from yarl import URL

from ._budget import RequestBudget
from ._checks import positive_seconds
from ._errors import (
    BAD_BODY,
    APIError,
    APIStatusError,
    APITimeoutError,
    BudgetRefusalError,
    NebiusError,
    RateLimitError,
    decode_error,
    status_error,
)
from ._hooks import HookSet, RequestEvent, ResponseEvent, RetryEvent
from ._network import checked_headers, hook_headers, with_query
from ._raw import Exchange, captured
from ._redaction import KeyRedactor, storage_error_detail
from ._retry import RetryPolicy, is_retryable, parse_retry_after, wait_before_retry
from ._routes import Call, FilePart, Upload
from ._slots import Slots
from ._urls import is_loopback_host
from ._wire import AsyncTransport, WireRequest, WireResponse, WireTimeout, content_type, request_id

log = logging.getLogger("nebius_ft_async")

T = TypeVar("T")

MAX_REDIRECTS = 5
"""Redirects followed in one attempt."""

_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_JSON_HEADERS = {"Content-Type": "application/json"}
_NO_HEADERS: Mapping[str, str] = MappingProxyType({})


class CallRunner:
    """Sends the calls of one session: its origin, headers, transport, budget, retries,
    hooks and connection slots, held once.

    ``closed`` is set by the session's ``close()``: an attempt that would start afterwards
    fails with ``NebiusError``.
    """

    def __init__(
        self,
        *,
        origin: str,
        path_prefix: str,
        headers: Mapping[str, str],
        transport: AsyncTransport,
        budget: RequestBudget,
        retry_policy: RetryPolicy,
        max_connections: int,
        max_response_bytes: int,
        hooks: HookSet | None,
        allow_insecure_http: bool,
        ai_project_id: str | None,
        timeout: WireTimeout,
        transfer_timeout: WireTimeout,
        key: str,
    ) -> None:
        self.origin = origin
        self.path_prefix = path_prefix  # a base URL's own path, such as /api
        self.headers = headers  # what every request to the origin carries, read-only
        self.transport = transport
        self.budget = budget
        self.retry_policy = retry_policy
        self.max_response_bytes = max_response_bytes
        self.hooks = hooks
        self.allow_insecure_http = allow_insecure_http
        self.ai_project_id = ai_project_id
        self.timeout = timeout
        # uploads and downloads may take long: the session's timeout bounds silence instead
        self.transfer_timeout = transfer_timeout
        self.closed = False
        self._slots = Slots(max_connections)
        self._key = key

    # -- a call --------------------------------------------------------------------------

    def perform(self, call: Call[T]) -> Awaitable[T]:
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
        return self._run(call, self.request(call, call.json, None, self.timeout), deadline)

    def request(
        self,
        call: Call[Any],
        body: bytes | Upload | FilePart | None,
        sink: Path | None,
        timeout: WireTimeout,
    ) -> WireRequest:
        """The first attempt's request of ``call``: its URL (with the call's query and
        project), the call's headers beside the session's, its body and where a 2xx body
        goes."""
        route = call.route
        path = self.path_prefix + call.path  # what is requested, and what messages show
        if call.extra_query:
            path = with_query(path, call.extra_query)
        if route.project_scoped or call.ai_project_id is not None:
            path = self._in_project(call, path)
        headers = None
        if call.extra_headers:
            headers = checked_headers("extra_headers", call.extra_headers)
        if call.json is not None:
            headers = {**(headers or {}), **_JSON_HEADERS}
        return WireRequest(
            route.method,
            URL(self.origin + path, encoded=True),
            path,
            timeout,
            self.max_response_bytes,
            self.headers,
            headers,
            body,
            False,
            sink,
            call.on_progress,
            self.budget.record,
        )

    def _in_project(self, call: Call[Any], path: str) -> str:
        """``path`` with the call's (else the session's) ``ai_project_id``, if its route
        takes one."""
        route = call.route
        if not route.project_scoped:
            raise ValueError(
                f"ai_project_id is not taken by {route.method} {route.template}: only "
                "creating and listing work within a project"
            )
        project = self.ai_project_id if call.ai_project_id is None else call.ai_project_id
        if project is None:
            return path
        if not isinstance(project, str) or not project.strip():
            raise ValueError(f"ai_project_id must be a non-empty string, got {project!r}")
        return with_query(path, {"ai_project_id": project})

    async def _run(self, call: Call[T], request: WireRequest, deadline: float | None) -> T:
        """Attempt ``request`` until it is answered, a redirect followed, or its failure is
        not retried. A retry whose wait would end past ``deadline`` (loop time) is not
        attempted: the last error is raised at once instead of sleeping into a sure
        timeout."""
        attempt, redirects, sent = 1, 0, request
        schedule: Iterator[float] | None = None
        try:
            while True:
                answer = await self._attempt(call, sent, deadline, attempt)
                failure: APIError
                if not isinstance(answer, WireResponse):
                    failure = answer
                elif answer.status < 300:
                    if captured.get() is not None:  # with_raw_response: the answer kept too
                        self._keep_raw(call, sent, answer)
                    try:
                        return call.route.decoder.decode(answer.body)
                    except BAD_BODY as exc:
                        raise self._decode_error(sent, answer, str(exc)) from None
                elif answer.status in _REDIRECT_STATUSES and "location" in answer.headers:
                    redirects += 1
                    followed = self._redirected(request, sent, answer, redirects)
                    if isinstance(followed, WireRequest):
                        sent = followed
                        continue
                    failure = followed
                else:
                    failure = self._status_failure(sent, answer)
                self._redactor.error(failure)  # a server may echo the key in any spelling
                failure.attempts = attempt
                schedule = schedule or self.retry_policy.schedule()
                wait = self._retry_wait(call, failure, attempt, schedule, deadline)
                if wait is None:
                    raise failure
                await self._retrying(call, sent, failure, attempt, wait)
                attempt, redirects, sent = attempt + 1, 0, request
        except (TimeoutError, APITimeoutError) as error:  # TimeoutError: waiting for a slot
            if isinstance(error, APITimeoutError) and (
                deadline is None or asyncio.get_running_loop().time() < deadline
            ):
                raise
            deadline_failure = self._deadline_error(call)
        raise deadline_failure  # outside the except block: nothing of aiohttp's rides along

    async def _attempt(
        self, call: Call[Any], request: WireRequest, deadline: float | None, attempt: int
    ) -> WireResponse | APIError:
        """One attempt: a connection slot, then a turn from the budget, the hooks and the
        transport's answer; a failure on the wire as a value (the budget's refusal is
        raised).

        The slot comes first, then the turn: a request queued for a connection takes its
        turn only when it can go, so a 429 that arrives meanwhile still holds it back.
        """
        slots, hooks = self._slots, self.hooks
        if not slots.try_take():
            await slots.take(deadline)
        sent: RequestEvent | None = None
        try:
            if not request.foreign:  # another origin's requests are not the API's to limit
                wait = await self.budget.acquire(deadline)
                if wait is not None:  # not retried: the budget already said when it could go
                    raise self._refusal(request, wait, deadline, attempt)
            if deadline is not None:
                left = deadline - asyncio.get_running_loop().time()
                request = replace(request, timeout=request.timeout.within(left))
            if self.closed:  # after the waits: close() may have run meanwhile
                raise NebiusError("this AsyncSession is closed")
            self.transport.ready()  # a connection in this event loop
            if hooks is not None:
                sent = self._request_sent(hooks, call, request, attempt)
                if sent.headers and not request.foreign:
                    more = hook_headers(sent.headers)
                    request = replace(request, headers={**(request.headers or {}), **more})
            try:
                answer: WireResponse | APIError = await self.transport.send(request)
            except APIError as exc:  # raised outside aiohttp's except: no __context__
                answer = exc
            except BaseException as exc:  # a cancellation: still told
                if sent is not None:
                    self._response_received(sent, None, None, type(exc).__name__)
                raise
        finally:
            slots.give_back()
        if sent is not None:
            if isinstance(answer, WireResponse):
                self._response_received(sent, answer.status, answer.headers, None)
            else:
                self._response_received(sent, None, None, type(answer).__name__)
        return answer

    def _keep_raw(self, call: Call[Any], request: WireRequest, answer: WireResponse) -> None:
        """Record a 2xx answer for ``with_raw_response``."""
        raw = captured.get()
        assert raw is not None
        route = call.route
        raw.append(
            Exchange(
                route.method,
                route.template,
                request.path,
                answer.status,
                answer.headers,
                answer.body,
            )
        )

    def _decode_error(
        self, request: WireRequest, answer: WireResponse, problem: str
    ) -> NebiusError:
        """The error of a 2xx body its route's decoder refused (the key blanked out)."""
        headers = answer.headers
        return self._redactor.error(
            decode_error(
                answer.status,
                content_type(headers),
                self._redactor.bytes(answer.body),
                problem,
                method=request.method,
                path=request.path,
                request_id=request_id(headers),
            )
        )

    def _redirected(
        self, first: WireRequest, request: WireRequest, answer: WireResponse, redirects: int
    ) -> WireRequest | APIStatusError:
        """The request a redirect points to, or why it is not followed. Another origin is
        asked without the session's headers (the key among them) and outside the budget."""
        method, path, status = request.method, request.path, answer.status
        if redirects > MAX_REDIRECTS:
            return APIStatusError(
                f"{method} {path}: more than {MAX_REDIRECTS} redirects",
                status_code=status,
                method=method,
                path=path,
            )
        try:
            target = redirect_target(
                request.url,
                answer.headers["location"],
                status,
                method,
                path,
                self.allow_insecure_http,
            )
        except APIStatusError as exc:
            return exc
        if target.origin() == first.url.origin():
            return replace(first, url=target)
        return replace(
            first,
            url=target,
            session_headers=_NO_HEADERS,
            headers=None,
            foreign=True,
            on_answer=None,
        )

    def _status_failure(self, request: WireRequest, answer: WireResponse) -> APIStatusError:
        """The error of an answer that is neither a success nor a redirect followed."""
        body = answer.body
        if request.foreign:  # object storage's XML, its detail only
            body = storage_error_detail(body)
        headers = answer.headers
        return status_error(
            answer.status,
            answer.reason,
            self._redactor.bytes(body),
            method=request.method,
            path=request.path,
            request_id=request_id(headers),
            retry_after=parse_retry_after(headers),
        )

    def _retry_wait(
        self,
        call: Call[Any],
        failure: APIError,
        attempt: int,
        schedule: Iterator[float],
        deadline: float | None,
    ) -> float | None:
        """Seconds to wait before the next attempt, or ``None``: the failure is raised (not
        retryable, out of retries, a Retry-After longer than the policy waits out, or a wait
        that would end past the deadline)."""
        policy = self.retry_policy
        retries = policy.max_retries if call.max_retries is None else call.max_retries
        retry_after = getattr(failure, "retry_after", None)
        if (
            not is_retryable(failure, idempotent=call.route.idempotent)
            or attempt > retries
            or (retry_after is not None and retry_after > policy.max_retry_after)
        ):
            return None
        wait = wait_before_retry(next(schedule), retry_after)
        if deadline is not None and asyncio.get_running_loop().time() + wait > deadline:
            return None
        return wait

    async def _retrying(
        self, call: Call[Any], request: WireRequest, failure: APIError, attempt: int, wait: float
    ) -> None:
        """Tell the hooks and the log of a retry, and wait for it (an API 429's Retry-After
        is waited out in the budget, before the next turn; any other wait here)."""
        method, path, name = request.method, request.path, _failure_name(failure)
        if self.hooks is not None:
            self.hooks.retried(RetryEvent(method, call.route.template, path, attempt, name, wait))
        policy = self.retry_policy
        retries = policy.max_retries if call.max_retries is None else call.max_retries
        log.info(
            "retrying %s %s after %s (attempt %d of %d), waiting %.2f s",
            method,
            path,
            name,
            attempt,
            retries + 1,
            wait,
        )
        retry_after = getattr(failure, "retry_after", None)
        if request.foreign or not (isinstance(failure, RateLimitError) and retry_after is not None):
            await policy.sleep(wait)

    # -- uploads and downloads -----------------------------------------------------------

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
                    request = self.request(call, call.upload, None, self.transfer_timeout)
                    return await self._run(call, request, deadline)
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
            request = self.request(call, None, temporary, self.transfer_timeout)
            result = await self._run(call, request, deadline)
            await anyio.to_thread.run_sync(temporary.replace, destination)
            return result
        finally:
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(partial(temporary.unlink, missing_ok=True))

    # -- errors and events ---------------------------------------------------------------

    def _deadline(self, timeout: float) -> float:
        return asyncio.get_running_loop().time() + positive_seconds("timeout", timeout)

    def _deadline_error(self, call: Call[Any]) -> APITimeoutError:
        method, path = call.route.method, self.path_prefix + call.path
        return APITimeoutError(
            f"{method} {path} did not finish within its {call.timeout:g} s deadline",
            method=method,
            path=path,
        )

    def _refusal(
        self, request: WireRequest, wait: float, deadline: float | None, attempt: int
    ) -> BudgetRefusalError:
        """The error of a request the budget would not let go before ``deadline``."""
        late = deadline is not None and asyncio.get_running_loop().time() + wait > deadline
        method, path = request.method, request.path
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
        self, hooks: HookSet, call: Call[Any], request: WireRequest, attempt: int
    ) -> RequestEvent:
        url = request.url
        # another origin's URL is a storage link whose query is its signature: left out
        path, origin = (
            (url.raw_path, str(url.origin())) if request.foreign else (url.raw_path_qs, self.origin)
        )
        event = RequestEvent(
            request.method,
            call.route.template,
            path,
            origin,
            attempt,
            asyncio.get_running_loop().time(),
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
        assert self.hooks is not None
        if status is not None and status >= 400:
            error = str(status)
        elapsed = asyncio.get_running_loop().time() - sent.started
        answer_id = None if headers is None else request_id(headers)
        self.hooks.received(ResponseEvent(sent, status, error, elapsed, answer_id))

    @cached_property
    def _redactor(self) -> KeyRedactor:
        return KeyRedactor(self._key)  # built on the first error, not on the hot path


def _check_retries(max_retries: int) -> None:
    if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
        raise ValueError(f"max_retries must be a whole number of at least 0, got {max_retries!r}")


def _failure_name(error: APIError) -> str:
    if isinstance(error, APIStatusError):
        return f"HTTP {error.status_code}"
    return type(error).__name__


def redirect_target(
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

"""AsyncSession: the one place that talks HTTP.

A call goes, top to bottom: public method -> ``_get`` (overall deadline) -> ``_send``
(retry loop) -> ``_attempt`` (a connection slot, one request, redirects) -> ``_read_body``
(size cap) -> the endpoint's cached decoder. Everything that is not I/O lives in the pure
modules ``_urls``, ``_retry``, ``_errors`` and ``_paging``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import warnings
from collections.abc import AsyncIterator, Callable
from types import TracebackType
from typing import Any, Self, TypeVar

import aiohttp
import msgspec
from yarl import URL

from ._errors import (
    APIConnectionError,
    APIError,
    APIStatusError,
    APITimeoutError,
    ConfigurationError,
    NebiusError,
    decode_error,
    status_error,
)
from ._models import (
    DatasetFileResult,
    FineTuningCheckpoint,
    FineTuningJob,
    FineTuningJobCheckpoint,
    FineTuningJobEvent,
    Page,
    checkpoint_decoder,
    checkpoint_page_decoder,
    event_page_decoder,
    job_decoder,
    operation_results_decoder,
    operation_results_from,
)
from ._paging import DEFAULT_PAGE_SIZE, iterate_items
from ._retry import RetryPolicy, is_retryable, parse_retry_after, wait_before_retry
from ._urls import DEFAULT_BASE_URL, normalize_base_url, page_query, path_segment
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
"""Same-origin redirects followed in one attempt."""

_READ_CHUNK = 256 * 1024
_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})


class AsyncSession:
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
    Every call also takes ``timeout=`` (a deadline for the whole call, retries included) and
    ``max_retries=``.

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
        self.max_response_bytes = max_response_bytes
        self._headers = {
            "Authorization": f"Bearer {key}",
            "Accept": "application/json",
            "User-Agent": f"nebius-ft-async/{__version__}",
        }
        self._key_bytes = key.encode()
        self._timeout = aiohttp.ClientTimeout(total=timeout, sock_connect=connect_timeout)
        self._max_connections = max_connections
        self._slots = asyncio.Semaphore(max_connections)
        self._client: aiohttp.ClientSession | None = None
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
        """Close every connection. The session cannot be used afterwards."""
        self._closed = True
        if self._client is not None:
            await self._client.close()

    @property
    def closed(self) -> bool:
        """True once ``close()`` was called."""
        return self._closed

    def __del__(self, _warn: Any = warnings.warn) -> None:
        client = getattr(self, "_client", None)
        if client is not None and not client.closed:
            _warn(
                f"Unclosed {self!r}: use 'async with AsyncSession()' or 'await session.close()'",
                ResourceWarning,
                source=self,
            )

    def _client_session(self) -> aiohttp.ClientSession:
        if self._closed:
            raise NebiusError("this AsyncSession is closed")
        if self._client is None:
            connector = aiohttp.TCPConnector(limit=self._max_connections, limit_per_host=0)
            self._client = aiohttp.ClientSession(
                connector=connector, timeout=self._timeout, auto_decompress=True
            )
        return self._client

    # -- the request path ------------------------------------------------------------

    async def _get(
        self,
        path: str,
        decoder: msgspec.json.Decoder[T],
        *,
        timeout: float | None,
        max_retries: int | None,
    ) -> T:
        """GET ``path`` with retries, within the call's overall deadline if one is given."""
        if timeout is None:
            return await self._send("GET", path, decoder, max_retries, None)
        deadline = asyncio.get_running_loop().time() + timeout
        try:
            async with asyncio.timeout_at(deadline):
                return await self._send("GET", path, decoder, max_retries, deadline)
        except TimeoutError:
            raise APITimeoutError(
                f"GET {path} did not finish within its {timeout:g} s deadline",
                method="GET",
                path=path,
            ) from None

    async def _send(
        self,
        method: str,
        path: str,
        decoder: msgspec.json.Decoder[T],
        max_retries: int | None,
        deadline: float | None,
    ) -> T:
        """Send one request, retrying what is worth retrying, and decode the answer.

        A retry whose wait would end past ``deadline`` (loop time) is not attempted: the
        last error is raised at once instead of sleeping into a sure timeout.
        """
        policy = self.retry_policy
        retries_allowed = policy.max_retries if max_retries is None else max_retries
        url = URL(self.base_url + path, encoded=True)
        attempt = 1
        schedule = None
        while True:
            try:
                status, content_type, request_id, body = await self._attempt(method, url, path)
            except APIError as error:
                error.attempts = attempt
                retry_after = getattr(error, "retry_after", None)
                if (
                    not is_retryable(error)
                    or attempt > retries_allowed
                    or (retry_after is not None and retry_after > policy.max_retry_after)
                ):
                    raise
                schedule = schedule or policy.schedule()
                wait = wait_before_retry(next(schedule), retry_after)
                if deadline is not None and asyncio.get_running_loop().time() + wait > deadline:
                    raise
                log.info(
                    "retrying %s %s after %s (attempt %d of %d), waiting %.2f s",
                    method,
                    path,
                    _failure_name(error),
                    attempt,
                    retries_allowed + 1,
                    wait,
                )
                await policy.sleep(wait)
                attempt += 1
                continue
            try:
                return decoder.decode(body)
            except msgspec.DecodeError as exc:
                raise decode_error(
                    status,
                    content_type,
                    self._redact(body),
                    str(exc),
                    method=method,
                    path=path,
                    request_id=request_id,
                ) from None

    async def _attempt(
        self, method: str, url: URL, path: str
    ) -> tuple[int, str, str | None, bytes]:
        """One attempt: a connection slot, the request and its same-origin redirects.

        Returns status, content type, request id and body of a 2xx answer; raises the
        matching ``APIError`` for anything else.
        """
        async with self._slots:
            client = self._client_session()  # after the wait for a slot: close() may have run
            for _ in range(MAX_REDIRECTS + 1):
                failure: APIError | None = None
                try:
                    async with client.request(
                        method, url, headers=self._headers, allow_redirects=False
                    ) as response:
                        status = response.status
                        headers = response.headers
                        request_id = headers.get("x-request-id") or headers.get("request-id")
                        content_type = response.content_type
                        body = await self._read_body(response, method, path, request_id)
                except TimeoutError:
                    failure = APITimeoutError(
                        f"{method} {path} timed out after {self._timeout.total:g} s",
                        method=method,
                        path=path,
                    )
                except aiohttp.ClientError as exc:
                    failure = APIConnectionError(
                        f"{method} {path} failed: {type(exc).__name__}: {exc}",
                        method=method,
                        path=path,
                    )
                if failure is not None:
                    # raised outside the except block: aiohttp's exception, whose request_info
                    # holds the Authorization header, must not ride along as __context__
                    raise failure
                if status < 300:
                    return status, content_type, request_id, body
                if status in _REDIRECT_STATUSES and "location" in headers:
                    url = _same_origin_redirect(url, headers["location"], status, method, path)
                    continue
                raise status_error(
                    status,
                    response.reason or "",
                    self._redact(body),
                    method=method,
                    path=path,
                    request_id=request_id,
                    retry_after=parse_retry_after(headers),
                )
        raise APIStatusError(
            f"{method} {path}: more than {MAX_REDIRECTS} redirects",
            status_code=status,
            method=method,
            path=path,
        )

    def _redact(self, body: bytes) -> bytes:
        """The body with the API key blanked out, for a server that echoes the request."""
        if self._key_bytes in body:
            return body.replace(self._key_bytes, b"[redacted]")
        return body

    async def _read_body(
        self,
        response: aiohttp.ClientResponse,
        method: str,
        path: str,
        request_id: str | None,
    ) -> bytes:
        """The whole body, refusing one larger than ``max_response_bytes`` once decompressed."""
        cap = self.max_response_bytes
        declared = response.content_length
        compressed = response.headers.get("content-encoding", "identity") != "identity"
        if declared is not None and declared <= cap and not compressed:
            return await response.read()
        if declared is None or compressed:  # count what is decompressed, not what is sent
            chunks = []
            size = 0
            async for chunk in response.content.iter_chunked(_READ_CHUNK):
                size += len(chunk)
                if size > cap:
                    break
                chunks.append(chunk)
            else:
                return b"".join(chunks)
        response.close()
        raise decode_error(
            response.status,
            response.content_type,
            b"",
            f"body larger than the {cap} byte limit (max_response_bytes)",
            method=method,
            path=path,
            request_id=request_id,
        )

    # -- endpoints -------------------------------------------------------------------

    async def get_job(
        self, job_id: str, *, timeout: float | None = None, max_retries: int | None = None
    ) -> FineTuningJob:
        """Get a fine-tuning job: ``GET /v1/fine_tuning/jobs/{job_id}``."""
        path = "/v1/fine_tuning/jobs/" + path_segment(job_id, "job_id")
        return await self._get(path, job_decoder, timeout=timeout, max_retries=max_retries)

    async def list_events(
        self,
        job_id: str,
        *,
        limit: int | None = None,
        after: str | None = None,
        timeout: float | None = None,
        max_retries: int | None = None,
    ) -> Page[FineTuningJobEvent]:
        """One page of a job's events: ``GET /v1/fine_tuning/jobs/{job_id}/events``."""
        path = (
            "/v1/fine_tuning/jobs/"
            + path_segment(job_id, "job_id")
            + "/events"
            + page_query(limit, after)
        )
        return await self._get(path, event_page_decoder, timeout=timeout, max_retries=max_retries)

    def iter_events(
        self,
        job_id: str,
        *,
        page_size: int = DEFAULT_PAGE_SIZE,
        limit: int | None = None,
        after: str | None = None,
    ) -> AsyncIterator[FineTuningJobEvent]:
        """Every event of a job across pages (at most ``limit`` if given), in server order."""

        async def fetch(cursor: str | None, size: int) -> Page[FineTuningJobEvent]:
            return await self.list_events(job_id, limit=size, after=cursor)

        return iterate_items(fetch, page_size=page_size, limit=limit, after=after)

    async def list_checkpoints(
        self,
        job_id: str,
        *,
        limit: int | None = None,
        after: str | None = None,
        timeout: float | None = None,
        max_retries: int | None = None,
    ) -> Page[FineTuningJobCheckpoint]:
        """One page of a job's checkpoints: ``GET /v1/fine_tuning/jobs/{job_id}/checkpoints``."""
        path = (
            "/v1/fine_tuning/jobs/"
            + path_segment(job_id, "job_id")
            + "/checkpoints"
            + page_query(limit, after)
        )
        return await self._get(
            path, checkpoint_page_decoder, timeout=timeout, max_retries=max_retries
        )

    def iter_checkpoints(
        self,
        job_id: str,
        *,
        page_size: int = DEFAULT_PAGE_SIZE,
        limit: int | None = None,
        after: str | None = None,
    ) -> AsyncIterator[FineTuningJobCheckpoint]:
        """Every checkpoint of a job across pages (at most ``limit`` if given)."""

        async def fetch(cursor: str | None, size: int) -> Page[FineTuningJobCheckpoint]:
            return await self.list_checkpoints(job_id, limit=size, after=cursor)

        return iterate_items(fetch, page_size=page_size, limit=limit, after=after)

    async def get_checkpoint(
        self,
        job_id: str,
        checkpoint_id: str,
        *,
        timeout: float | None = None,
        max_retries: int | None = None,
    ) -> FineTuningJobCheckpoint:
        """One checkpoint: ``GET /v1/fine_tuning/jobs/{job_id}/checkpoints/{checkpoint_id}``."""
        path = (
            "/v1/fine_tuning/jobs/"
            + path_segment(job_id, "job_id")
            + "/checkpoints/"
            + path_segment(checkpoint_id, "checkpoint_id")
        )
        return await self._get(path, checkpoint_decoder, timeout=timeout, max_retries=max_retries)

    async def get_operation_results(
        self,
        operation_id: str,
        *,
        limit: int | None = None,
        after: str | None = None,
        timeout: float | None = None,
        max_retries: int | None = None,
    ) -> Page[FineTuningCheckpoint] | DatasetFileResult:
        """What an operation produced: ``GET /v1/operations/{operation_id}/results``.

        A page of checkpoints for a fine-tuning operation, or a ``DatasetFileResult`` with the
        output ``file_id`` for a dataset-to-file operation.
        """
        path = (
            "/v1/operations/"
            + path_segment(operation_id, "operation_id")
            + "/results"
            + page_query(limit, after)
        )
        body = await self._get(
            path, operation_results_decoder, timeout=timeout, max_retries=max_retries
        )
        return operation_results_from(body)

    def iter_operation_results(
        self,
        operation_id: str,
        *,
        page_size: int = DEFAULT_PAGE_SIZE,
        limit: int | None = None,
        after: str | None = None,
    ) -> AsyncIterator[FineTuningCheckpoint]:
        """Every checkpoint a fine-tuning operation produced, across pages.

        Raises ``ValueError`` if the operation is a dataset-to-file one (it has a
        ``file_id``, not checkpoints; use ``get_operation_results``).
        """

        async def fetch(cursor: str | None, size: int) -> Page[FineTuningCheckpoint]:
            result = await self.get_operation_results(operation_id, limit=size, after=cursor)
            if isinstance(result, DatasetFileResult):
                raise ValueError(
                    f"operation {operation_id} is a dataset-to-file operation; its result is "
                    f"file {result.file_id}, not checkpoints"
                )
            return result

        return iterate_items(fetch, page_size=page_size, limit=limit, after=after)

    async def wait_for_job(
        self,
        job_id: str,
        *,
        poll_interval: float = 5.0,
        timeout: float | None = None,
        on_update: Callable[[FineTuningJob], Any] | None = None,
    ) -> FineTuningJob:
        """Poll a job until it is final and return it; see ``nebius_ft_async.wait_for_job``."""
        from ._polling import wait_for_job  # the polling layer sits above the session

        return await wait_for_job(
            self, job_id, poll_interval=poll_interval, timeout=timeout, on_update=on_update
        )


def _failure_name(error: APIError) -> str:
    if isinstance(error, APIStatusError):
        return f"HTTP {error.status_code}"
    return type(error).__name__


def _same_origin_redirect(url: URL, location: str, status: int, method: str, path: str) -> URL:
    """Where a redirect points, if it stays on the configured origin; else an error.

    The Authorization header is only ever sent to the configured origin.
    """
    try:
        target = url.join(URL(location))
        same_origin = target.origin() == url.origin()
    except ValueError:
        raise APIStatusError(
            f"HTTP {status} on {method} {path}: the redirect's Location is not a valid URL",
            status_code=status,
            method=method,
            path=path,
        ) from None
    if not same_origin:
        raise APIStatusError(
            f"HTTP {status} on {method} {path}: refusing to follow a redirect to another "
            f"origin ({target.origin()})",
            status_code=status,
            method=method,
            path=path,
        )
    return target

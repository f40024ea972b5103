"""AsyncSession: its settings and lifecycle; its calls run in ``_attempts``.

A call goes, top to bottom: an endpoint method (``_jobs``, ``_operations``, ``_files``, ...)
describes it as a ``_routes.Call`` -> ``_perform`` -> ``_attempts.CallRunner`` (its request
built once; for each attempt a connection slot, a turn from the budget, the hooks and the
transport's ``send``; then redirects, retries, or the route's cached decoder) -> the
transport (``_aiohttp_transport``, the only module that imports aiohttp: connections,
proxies, TLS, streamed bodies, the size cap). Everything that is not I/O lives in the pure
modules ``_routes``, ``_wire``, ``_urls``, ``_retry``, ``_errors``, ``_requests`` and
``_paging``.
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Mapping, Sequence
from ssl import SSLContext
from types import MappingProxyType, TracebackType
from typing import Any, Self, TypeVar
from urllib.parse import urlsplit

from ._aiohttp_transport import (
    PROXY_VARIABLES,
    AiohttpTransport,
    ClientSession,
    checked_client_session,
    inflates_for,
)
from ._attempts import CallRunner
from ._budget import AdaptiveBudget, RequestBudget
from ._checks import LOOPBACK_MIN_POLL_INTERVAL, MIN_POLL_INTERVAL
from ._endpoints import Endpoints
from ._errors import (
    ConfigurationError,
)
from ._hooks import Hooks, hook_set
from ._inflate import SUPPORTED_ENCODINGS
from ._network import (
    checked_headers,
    checked_proxy,
    checked_ssl,
    environment_proxy,
)
from ._redaction import KeyRedactor
from ._retry import RetryPolicy
from ._urls import DEFAULT_BASE_URL, is_loopback_base_url, normalize_base_url
from ._version import __version__
from ._wire import AsyncTransport, WireTimeout

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
        parts = urlsplit(self.base_url)
        self.min_poll_interval = (
            LOOPBACK_MIN_POLL_INTERVAL if is_loopback_base_url(self.base_url) else MIN_POLL_INTERVAL
        )
        if ai_project_id is not None and (
            not isinstance(ai_project_id, str) or not ai_project_id.strip()
        ):
            raise ConfigurationError(
                f"ai_project_id must be a non-empty string, got {ai_project_id!r}"
            )
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
        if transport is not None:
            options = {"proxy=": proxy, "ssl=": ssl, "client_session=": client_session}
            given = [name for name, value in options.items() if value is not None]
            if given:
                raise ConfigurationError(
                    f"transport= sends every request itself: {', '.join(given)} cannot apply"
                )
            self._own_transport = False  # the caller's, as a client_session is: not closed here
        else:
            transport = self._aiohttp_transport(
                headers, proxy, trust_env, ssl, max_connections, client_session, inflate
            )
            self._own_transport = True
        self._transport = transport
        self._runner = CallRunner(
            origin=f"{parts.scheme}://{parts.netloc}",
            path_prefix=parts.path,
            headers=MappingProxyType(headers),
            transport=transport,
            budget=budget or AdaptiveBudget(max_pause=policy.max_retry_after, sleep=policy.sleep),
            retry_policy=policy,
            max_connections=max_connections,
            max_response_bytes=max_response_bytes,
            hooks=hook_set(hooks),
            allow_insecure_http=allow_insecure_http,
            ai_project_id=ai_project_id,
            timeout=WireTimeout(total=timeout, connect=connect_timeout),
            transfer_timeout=WireTimeout(total=None, connect=connect_timeout, read=timeout),
            key=key,
        )
        self._perform = self._runner.perform

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
        self._runner.closed = True
        if self._own_transport:
            await self._transport.close()

    @property
    def closed(self) -> bool:
        """True once ``close()`` was called."""
        return self._runner.closed

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

    @property
    def budget(self) -> RequestBudget:
        """What every request (each retry too) takes a turn from."""
        return self._runner.budget

    @property
    def retry_policy(self) -> RetryPolicy:
        """How failed attempts are retried."""
        return self._runner.retry_policy

    @property
    def max_response_bytes(self) -> int:
        """Largest response body read into memory; a larger one is refused."""
        return self._runner.max_response_bytes

    @property
    def ai_project_id(self) -> str | None:
        """The AI Studio project that creating and listing work within (``None``: the
        account's default)."""
        return self._runner.ai_project_id

    @property
    def _redactor(self) -> KeyRedactor:
        """What blanks the key out of text, in every spelling a server may echo it."""
        return self._runner._redactor


def _configured_headers(headers: Mapping[str, str] | None) -> dict[str, str]:
    try:
        return checked_headers("default_headers", headers)
    except ValueError as error:
        raise ConfigurationError(str(error)) from None

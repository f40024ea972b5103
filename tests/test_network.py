"""Fitting into the user's network: proxies (explicit and from the environment), TLS with a
corporate CA, the user's own aiohttp session, default and per-call headers and query.

Every test runs a real server on 127.0.0.1; the proxy is a real forward proxy (CONNECT
tunnels and absolute-form requests) that records every byte it relays.
"""

from __future__ import annotations

import asyncio
import gzip
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import msgspec
import pytest
import trustme
from aiohttp import web

from nebius_ft_async import (
    AsyncSession,
    ConfigurationError,
    MockTransport,
    WireRequest,
    WireResponse,
)
from nebius_ft_async._errors import APIConnectionError
from nebius_ft_async._network import bypasses_proxy, environment_proxy

from .samples import job_body

pytestmark = pytest.mark.anyio

KEY = "sk-network-7d41c0aa93e2"
REMOTE_HOST = "api.nebius.test"  # not this machine: only the proxy knows where it is


@dataclass
class Seen:
    headers: list[dict[str, str]] = field(default_factory=list)
    queries: list[dict[str, str]] = field(default_factory=list)


def api_app(seen: Seen, *, gzip_body: bool = False) -> web.Application:
    async def get_job(request: web.Request) -> web.Response:
        seen.headers.append(dict(request.headers))
        seen.queries.append(dict(request.query))
        if request.headers.get("Authorization") != f"Bearer {KEY}":
            return web.json_response({"detail": "bad key"}, status=401)
        body = msgspec.json.encode(job_body(request.match_info["job_id"]))
        if gzip_body:
            return web.Response(
                body=gzip.compress(body),
                headers={"Content-Type": "application/json", "Content-Encoding": "gzip"},
            )
        return web.Response(body=body, content_type="application/json")

    app = web.Application()
    app.router.add_get("/v1/fine_tuning/jobs/{job_id}", get_job)
    return app


async def serve(app: web.Application, tls: ssl.SSLContext | None = None) -> tuple[str, Any]:
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=tls)
    await site.start()
    port = runner.addresses[0][1]
    return f"{'https' if tls else 'http'}://127.0.0.1:{port}", runner


class ForwardProxy:
    """An HTTP forward proxy: CONNECT tunnels and absolute-form requests, every connection
    sent to ``target`` (host, port) whatever it asks for; ``relayed`` holds every byte the
    client sent through it."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.relayed = bytearray()
        self.request_lines: list[str] = []
        self.server: asyncio.Server | None = None

    async def __aenter__(self) -> ForwardProxy:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            writer.close()
            return
        self.relayed += head
        self.request_lines.append(head.split(b"\r\n", 1)[0].decode())
        upstream_reader, upstream_writer = await asyncio.open_connection(*self.target)
        if head.startswith(b"CONNECT "):
            writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            await writer.drain()
        else:
            upstream_writer.write(head)  # servers take absolute-form request targets
        await asyncio.gather(
            self._pipe(reader, upstream_writer, record=True),
            self._pipe(upstream_reader, writer, record=False),
        )

    async def _pipe(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, record: bool
    ) -> None:
        try:
            while chunk := await reader.read(65536):
                if record:
                    self.relayed += chunk
                writer.write(chunk)
                await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()


@pytest.fixture
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def client_tls(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    return context


def server_tls(ca: trustme.CA, *names: str) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(*names).configure_cert(context)
    return context


@pytest.fixture
async def https_api(ca: trustme.CA) -> AsyncIterator[tuple[str, Seen]]:
    seen = Seen()
    url, runner = await serve(api_app(seen), server_tls(ca, REMOTE_HOST, "127.0.0.1"))
    yield url, seen
    await runner.cleanup()


@pytest.fixture
async def http_api() -> AsyncIterator[tuple[str, Seen]]:
    seen = Seen()
    url, runner = await serve(api_app(seen))
    yield url, seen
    await runner.cleanup()


def port_of(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


async def test_environment_proxy_tunnels_https_and_never_sees_the_key(
    https_api: tuple[str, Seen], client_tls: ssl.SSLContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, seen = https_api
    async with ForwardProxy(("127.0.0.1", port_of(url))) as proxy:
        monkeypatch.setenv("HTTPS_PROXY", proxy.url)
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        async with AsyncSession(KEY, base_url=f"https://{REMOTE_HOST}", ssl=client_tls) as s:
            job = await s.get_job("ftjob-proxied")
    assert job.id == "ftjob-proxied"
    assert proxy.request_lines == [f"CONNECT {REMOTE_HOST}:443 HTTP/1.1"]
    assert KEY.encode() not in proxy.relayed  # only the tunnel's TLS bytes went through
    assert b"ftjob-proxied" not in proxy.relayed
    assert seen.headers[0]["Authorization"] == f"Bearer {KEY}"


async def test_no_proxy_sends_the_request_past_the_proxy(
    https_api: tuple[str, Seen], client_tls: ssl.SSLContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, _ = https_api
    async with ForwardProxy(("127.0.0.1", port_of(url))) as proxy:
        monkeypatch.setenv("HTTPS_PROXY", proxy.url)
        monkeypatch.setenv("NO_PROXY", "localhost,.nebius.test")
        async with AsyncSession(
            KEY, base_url=f"https://{REMOTE_HOST}", ssl=client_tls, max_retries=0
        ) as session:
            with pytest.raises(APIConnectionError):  # straight to a host no DNS knows
                await session.get_job("ftjob-direct")
    assert proxy.request_lines == []


async def test_trust_env_false_ignores_proxy_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.corp.example:3128")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    assert environment_proxy("https://api.tokenfactory.nebius.com") == (
        "http://proxy.corp.example:3128"
    )
    assert environment_proxy("http://127.0.0.1:8000") is None  # loopback never goes out
    session = AsyncSession(KEY, trust_env=False)
    assert session._transport._proxy is None
    assert AsyncSession(KEY)._transport._proxy == "http://proxy.corp.example:3128"
    monkeypatch.setenv("HTTPS_PROXY", "socks5://proxy.corp.example:1080")
    with pytest.raises(ConfigurationError, match=r"HTTPS_PROXY .* must be an http"):
        AsyncSession(KEY)  # aiohttp speaks no SOCKS: said at once, naming the variable


@pytest.mark.parametrize(
    ("host", "port", "no_proxy", "bypassed"),
    [
        ("api.example.com", 443, "example.com", True),
        ("api.example.com", 443, ".example.com", True),
        ("example.com", 443, ".example.com", True),
        ("badexample.com", 443, "example.com", False),
        ("api.example.com", 443, "api.example.com:8443", False),
        ("api.example.com", 8443, "api.example.com:8443", True),
        ("10.1.2.3", 443, "10.0.0.0/8", True),
        ("11.1.2.3", 443, "10.0.0.0/8", False),
        ("anything", 1, "*", True),
        ("api.example.com", 443, "", False),
    ],
)
def test_no_proxy_rules(host: str, port: int, no_proxy: str, bypassed: bool) -> None:
    assert bypasses_proxy(host, port, no_proxy) is bypassed


async def test_explicit_proxy_forwards_plain_http(http_api: tuple[str, Seen]) -> None:
    url, seen = http_api
    async with (
        ForwardProxy(("127.0.0.1", port_of(url))) as proxy,
        AsyncSession(KEY, base_url=url, proxy=proxy.url) as session,
    ):
        job = await session.get_job("ftjob-via-proxy")
    assert job.id == "ftjob-via-proxy"
    assert proxy.request_lines == [f"GET {url}/v1/fine_tuning/jobs/ftjob-via-proxy HTTP/1.1"]
    assert len(seen.headers) == 1


async def test_a_corporate_ca_is_trusted_through_ssl_context(
    https_api: tuple[str, Seen], client_tls: ssl.SSLContext
) -> None:
    url, _ = https_api
    async with AsyncSession(KEY, base_url=url, ssl=client_tls) as session:
        assert (await session.get_job("ftjob-tls")).id == "ftjob-tls"
    async with AsyncSession(KEY, base_url=url, max_retries=0) as session:
        with pytest.raises(APIConnectionError, match="certificate"):
            await session.get_job("ftjob-untrusted")  # the system store does not know the CA


async def test_ssl_false_stays_with_the_api_and_storage_is_checked(ca: trustme.CA) -> None:
    storage_hits = []

    async def stored(request: web.Request) -> web.Response:
        storage_hits.append(request.path)
        return web.Response(body=b"weights")

    storage = web.Application()
    storage.router.add_get("/{tail:.*}", stored)
    storage_url, storage_runner = await serve(storage, server_tls(ca, "127.0.0.1"))

    async def content(request: web.Request) -> web.Response:
        return web.Response(status=302, headers={"Location": f"{storage_url}/b/k?sig=s"})

    api = web.Application()
    api.router.add_get("/v1/files/{file_id}/content", content)
    url, runner = await serve(api, server_tls(ca, "127.0.0.1"))
    try:
        async with AsyncSession(KEY, base_url=url, ssl=False, max_retries=0) as session:
            with pytest.raises(APIConnectionError, match="Certificate") as caught:
                await session.file_content("file-1")  # the storage's CA is nobody's
    finally:
        await runner.cleanup()
        await storage_runner.cleanup()
    assert storage_hits == []
    assert "sig=s" not in str(caught.value)


async def test_ssl_false_is_for_loopback_only(https_api: tuple[str, Seen]) -> None:
    url, _ = https_api
    async with AsyncSession(KEY, base_url=url, ssl=False) as session:
        assert (await session.get_job("ftjob-unchecked")).id == "ftjob-unchecked"
    with pytest.raises(ConfigurationError, match="ssl=False"):
        AsyncSession(KEY, base_url="https://api.tokenfactory.nebius.com", ssl=False)
    with pytest.raises(ConfigurationError, match="ssl must be"):
        AsyncSession(KEY, ssl="yes")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="proxy must be"):
        AsyncSession(KEY, proxy="socks5://127.0.0.1:1080")


async def test_your_own_client_session_is_used_and_left_as_it_was() -> None:
    seen = Seen()
    url, runner = await serve(api_app(seen, gzip_body=True))
    try:
        async with aiohttp.ClientSession(headers={"X-Team": "research"}) as client:
            defaults = dict(client.headers)
            async with AsyncSession(KEY, base_url=url, client_session=client) as session:
                job = await session.get_job("ftjob-byo")
            assert not client.closed  # not ours to close
            assert dict(client.headers) == defaults  # nor to change
            async with client.get(url + "/v1/fine_tuning/jobs/ftjob-own") as response:
                assert response.status == 401  # the key never became a default of theirs
    finally:
        await runner.cleanup()
    assert job.id == "ftjob-byo"  # its gzip body decompressed by the client's own settings
    assert seen.headers[0]["Authorization"] == f"Bearer {KEY}"
    assert seen.headers[0]["X-Team"] == "research"
    assert "Authorization" not in seen.headers[1]


async def test_a_closed_client_session_is_a_clear_error() -> None:
    client = aiohttp.ClientSession()
    await client.close()
    session = AsyncSession(KEY, base_url="http://127.0.0.1:9", client_session=client)
    with pytest.raises(Exception, match="client_session is closed"):
        await session.get_job("ftjob-x")


async def test_default_and_per_call_headers_and_query(http_api: tuple[str, Seen]) -> None:
    url, seen = http_api
    async with AsyncSession(
        KEY, base_url=url, default_headers={"X-Team": "research", "User-Agent": "bot/2"}
    ) as session:
        await session.get_job(
            "ftjob-1", extra_headers={"X-Trace": "abc"}, extra_query={"view": "full & more"}
        )
        await session.get_job("ftjob-2")
    first, second = seen.headers
    assert first["X-Team"] == "research" and first["User-Agent"] == "bot/2"
    assert first["X-Trace"] == "abc" and "X-Trace" not in second
    assert seen.queries == [{"view": "full & more"}, {}]


@pytest.mark.parametrize("name", ["Authorization", "authorization", "Host"])
async def test_headers_the_session_sets_cannot_be_overridden(
    http_api: tuple[str, Seen], name: str
) -> None:
    url, seen = http_api
    with pytest.raises(ConfigurationError, match=f"default_headers must not set {name}"):
        AsyncSession(KEY, base_url=url, default_headers={name: "Bearer other"})
    async with AsyncSession(KEY, base_url=url) as session:
        with pytest.raises(ValueError, match=f"extra_headers must not set {name}"):
            await session.get_job("ftjob-1", extra_headers={name: "Bearer other"})
    assert seen.headers == []  # nothing was sent


async def test_call_options_are_checked_before_anything_is_sent(
    http_api: tuple[str, Seen],
) -> None:
    url, seen = http_api
    async with AsyncSession(KEY, base_url=url) as session:
        for bad in (0, -1, float("nan"), float("inf")):
            with pytest.raises(ValueError, match="timeout must be"):
                await session.get_job("ftjob-1", timeout=bad)
        with pytest.raises(ValueError, match="max_retries must be"):
            await session.get_job("ftjob-1", max_retries=-1)
        with pytest.raises(ValueError, match="extra_query must map strings"):
            await session.get_job("ftjob-1", extra_query={"n": 1})  # type: ignore[dict-item]
        with pytest.raises(ValueError, match="line break"):
            await session.get_job("ftjob-1", extra_headers={"X-A": "a\r\nX-B: b"})
    assert seen.headers == []


async def test_ai_project_id_goes_where_the_api_takes_it() -> None:
    seen: list[tuple[str, dict[str, str]]] = []

    def record(request: WireRequest) -> WireResponse:
        seen.append((f"{request.method} {request.url.path}", dict(request.url.query)))
        if request.url.path.endswith("/jobs") and request.method == "GET":
            return WireResponse.of(json={"object": "list", "data": [], "has_more": False})
        return WireResponse.of(json=job_body("ftjob-p"))

    transport = MockTransport(record)
    async with AsyncSession(KEY, transport=transport, ai_project_id="proj-a") as session:
        await session.list_jobs(limit=5)
        await session.list_jobs(ai_project_id="proj-b")
        await session.create_job(model="m", training_file="file-1")
        await session.get_job("ftjob-p")  # not a project-scoped route: nothing added
        with pytest.raises(ValueError, match="ai_project_id is not taken by GET"):
            await session.get_job("ftjob-p", ai_project_id="proj-b")
    assert seen == [
        ("GET /v1/fine_tuning/jobs", {"limit": "5", "ai_project_id": "proj-a"}),
        ("GET /v1/fine_tuning/jobs", {"ai_project_id": "proj-b"}),
        ("POST /v1/fine_tuning/jobs", {"ai_project_id": "proj-a"}),
        ("GET /v1/fine_tuning/jobs/ftjob-p", {}),
    ]
    with pytest.raises(ConfigurationError, match="ai_project_id must be a non-empty string"):
        AsyncSession(KEY, ai_project_id=" ")


STORAGE_HOST = "storage.nebius.test"  # not this machine: only the proxy knows where it is


async def storage_redirect(seen: Seen) -> tuple[str, Any, int, Any]:
    """An API on 127.0.0.1 whose file content redirects to ``STORAGE_HOST`` (plain HTTP),
    and the storage behind it (on another port of 127.0.0.1): the API's URL and runner, the
    storage's port and runner."""

    async def content(request: web.Request) -> web.Response:
        seen.headers.append(dict(request.headers))
        return web.Response(body=b"weights", content_type="application/octet-stream")

    storage = web.Application()
    storage.router.add_get("/bucket/weights", content)
    storage_url, storage_runner = await serve(storage)
    storage_port = port_of(storage_url)

    async def redirect(request: web.Request) -> web.Response:
        location = f"http://{STORAGE_HOST}:{storage_port}/bucket/weights?X-Amz-Signature=s"
        raise web.HTTPFound(location)

    api = web.Application()
    api.router.add_get("/v1/files/{file_id}/content", redirect)
    api_url, api_runner = await serve(api)
    return api_url, api_runner, storage_port, storage_runner


@pytest.mark.parametrize("bypassed", [False, True])
async def test_a_storage_redirect_takes_the_proxy_the_environment_names_for_its_host(
    monkeypatch: pytest.MonkeyPatch, bypassed: bool
) -> None:
    seen = Seen()
    api_url, api_runner, storage_port, storage_runner = await storage_redirect(seen)
    try:
        async with ForwardProxy(("127.0.0.1", storage_port)) as proxy:
            monkeypatch.setenv("HTTP_PROXY", proxy.url)  # the loopback API is never proxied
            monkeypatch.setenv("NO_PROXY", ".nebius.test" if bypassed else "other.example")
            async with AsyncSession(
                KEY, base_url=api_url, max_retries=0, allow_insecure_http=True
            ) as session:
                if bypassed:  # past the proxy, straight to a host no DNS knows
                    with pytest.raises(APIConnectionError, match=STORAGE_HOST):
                        await session.file_content("file-1")
                else:
                    assert await session.file_content("file-1") == b"weights"
    finally:
        await api_runner.cleanup()
        await storage_runner.cleanup()
    if bypassed:
        assert proxy.request_lines == [] and seen.headers == []
    else:
        wanted = f"GET http://{STORAGE_HOST}:{storage_port}/bucket/weights?X-Amz-Signature=s"
        assert proxy.request_lines == [f"{wanted} HTTP/1.1"]
        assert KEY.encode() not in proxy.relayed
        assert "Authorization" not in seen.headers[0]

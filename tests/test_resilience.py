"""Retries, deadlines, cancellation and safety: the rules on a MockTransport, against scripted
answers; what needs a socket (stalls, broken connections, compression, a client of the user's)
on a local server."""

from __future__ import annotations

import asyncio
import logging
import time
import traceback
from collections.abc import Awaitable, Callable
from email.utils import formatdate

import aiohttp
import anyio
import pytest
from aiohttp import web

from nebius_ft_async import (
    APIConnectionError,
    APIError,
    APIStatusError,
    APITimeoutError,
    AsyncSession,
    AuthenticationError,
    BadRequestError,
    ConfigurationError,
    FineTuningJob,
    InternalServerError,
    MockTransport,
    NebiusError,
    RateLimitError,
    ResponseDecodeError,
    RetryPolicy,
    WireRequest,
    WireResponse,
)

from .conftest import API_KEY, RecordedSleeps, ServeAnswer, forever, json_response, wait_until
from .mocks import Scripted, mock_session, status
from .samples import job_body

pytestmark = pytest.mark.anyio

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
J1 = WireResponse.of(json=job_body("j1"))


async def drop_connection(request: web.Request) -> web.StreamResponse:
    """Close the connection before any answer."""
    assert request.transport is not None
    request.transport.close()
    return web.Response()


async def truncated_body(request: web.Request) -> web.StreamResponse:
    """Promise 500 bytes, send 10, hang up."""
    response = web.StreamResponse(headers={"Content-Type": "application/json"})
    response.content_length = 500
    await response.prepare(request)
    await response.write(b'{"id": "j1"')
    assert request.transport is not None
    request.transport.close()
    return response


class FaultsFirst:
    """A local server's answer: job j1 to the key, after ``faults`` one a request."""

    def __init__(self, *faults: Handler) -> None:
        self.faults = list(faults)
        self.requests = 0

    async def __call__(self, request: web.Request) -> web.StreamResponse:
        self.requests += 1
        if request.headers.get("Authorization") != f"Bearer {API_KEY}":
            return json_response({"detail": "Invalid API key"}, status=401)
        if self.faults:
            return await self.faults.pop(0)(request)
        return json_response(job_body("j1"))


async def test_503s_then_success_is_retried_with_growing_waits(sleeps: RecordedSleeps) -> None:
    transport = MockTransport(Scripted(status(503), status(502), then=J1))
    async with mock_session(transport, sleeps) as session:
        job = await session.get_job("j1")
    assert job.id == "j1"
    assert len(transport.requests) == 3
    assert len(sleeps.waits) == 2
    assert 0.375 <= sleeps.waits[0] <= 0.5  # 0.5 s less up to a quarter of jitter
    assert 0.75 <= sleeps.waits[1] <= 1.0


@pytest.mark.parametrize("code", [408, 409, 429, 500, 504])
async def test_retryable_statuses(code: int) -> None:
    transport = MockTransport(Scripted(status(code), then=J1))
    async with mock_session(transport) as session:
        assert (await session.get_job("j1")).id == "j1"
    assert len(transport.requests) == 2


@pytest.mark.parametrize("code", [400, 401, 403, 404, 422])
async def test_other_client_errors_are_not_retried(sleeps: RecordedSleeps, code: int) -> None:
    transport = MockTransport(Scripted(status(code), then=J1))
    async with mock_session(transport, sleeps) as session:
        with pytest.raises(APIStatusError, match=f"scripted {code}") as caught:
            await session.get_job("j1")
    assert caught.value.status_code == code
    assert caught.value.attempts == 1
    assert len(transport.requests) == 1
    assert sleeps.waits == []


async def test_exhausted_retries_raise_last_error_with_attempts(sleeps: RecordedSleeps) -> None:
    transport = MockTransport(Scripted(status(500), status(502), status(503), then=J1))
    async with mock_session(transport, sleeps) as session:
        with pytest.raises(InternalServerError) as caught:
            await session.get_job("j1")
    assert caught.value.status_code == 503
    assert caught.value.attempts == 3
    assert "after 3 attempts" in str(caught.value)
    assert len(transport.requests) == 3
    assert len(sleeps.waits) == 2


async def test_max_retries_per_call_and_per_session(sleeps: RecordedSleeps) -> None:
    handler = Scripted(*[status(503)] * 5, then=J1)
    transport = MockTransport(handler)
    async with mock_session(transport, sleeps) as session:
        assert (await session.get_job("j1", max_retries=5)).id == "j1"
        assert len(transport.requests) == 6
        transport.requests.clear()
        handler.first = [status(503)]
        with pytest.raises(InternalServerError, match="scripted 503"):
            await session.get_job("j1", max_retries=0)
        assert len(transport.requests) == 1
    transport.requests.clear()
    handler.first = [status(503), status(503)]
    async with mock_session(transport, sleeps, max_retries=1) as s:
        with pytest.raises(InternalServerError):
            await s.get_job("j1")
    assert len(transport.requests) == 2


async def test_retry_after_seconds_is_obeyed_exactly(sleeps: RecordedSleeps) -> None:
    transport = MockTransport(Scripted(status(429, {"Retry-After": "3"}), then=J1))
    async with mock_session(transport, sleeps) as session:
        await session.get_job("j1")
    assert len(transport.requests) == 2
    assert 3.0 <= sleeps.waits[0] <= 3.3  # never shorter than asked; jitter only lengthens


async def test_retry_after_http_date_is_obeyed(sleeps: RecordedSleeps) -> None:
    later = formatdate(time.time() + 30, usegmt=True)
    transport = MockTransport(Scripted(status(503, {"Retry-After": later}), then=J1))
    async with mock_session(transport, sleeps) as session:
        await session.get_job("j1")
    assert len(transport.requests) == 2
    assert 28.0 <= sleeps.waits[0] <= 33.0


async def test_retry_after_ms_is_obeyed(sleeps: RecordedSleeps) -> None:
    answer = status(429, {"retry-after-ms": "1500", "Retry-After": "9"})
    async with mock_session(Scripted(answer, then=J1), sleeps) as session:
        await session.get_job("j1")
    assert 1.5 <= sleeps.waits[0] <= 1.65


async def test_retry_after_above_the_cap_raises_at_once(sleeps: RecordedSleeps) -> None:
    transport = MockTransport(Scripted(status(429, {"Retry-After": "3600"}), then=J1))
    async with mock_session(transport, sleeps) as session:
        with pytest.raises(RateLimitError, match="scripted 429") as caught:
            await session.get_job("j1")
    assert caught.value.retry_after == 3600
    assert len(transport.requests) == 1
    assert sleeps.waits == []


async def test_each_retry_is_logged_without_headers(caplog: pytest.LogCaptureFixture) -> None:
    async with mock_session(Scripted(status(503), then=J1)) as session:
        with caplog.at_level(logging.DEBUG, logger="nebius_ft_async"):
            await session.get_job("j1")
    records = [r for r in caplog.records if r.name == "nebius_ft_async"]
    assert len(records) == 1
    message = records[0].getMessage()
    assert "GET /v1/fine_tuning/jobs/j1" in message
    assert "HTTP 503" in message and "attempt 1 of 3" in message and "waiting" in message
    assert API_KEY not in caplog.text


@pytest.mark.parametrize("fault", [drop_connection, truncated_body])
async def test_broken_connections_are_retried(serve_answer: ServeAnswer, fault: Handler) -> None:
    api = FaultsFirst(fault)
    url = await serve_answer(api)
    policy = RetryPolicy(sleep=RecordedSleeps())
    async with AsyncSession(API_KEY, base_url=url, retry_policy=policy) as session:
        assert (await session.get_job("j1")).id == "j1"
    assert api.requests == 2


async def test_broken_connection_every_time_is_a_connection_error(
    serve_answer: ServeAnswer,
) -> None:
    url = await serve_answer(FaultsFirst(truncated_body, truncated_body, truncated_body))
    policy = RetryPolicy(sleep=RecordedSleeps())
    async with AsyncSession(API_KEY, base_url=url, retry_policy=policy) as session:
        with pytest.raises(APIConnectionError) as caught:
            await session.get_job("j1")
    assert caught.value.attempts == 3
    assert caught.value.__cause__ is None


async def test_html_error_page_is_a_status_error_with_its_text() -> None:
    html_502 = WireResponse.of(
        502, body=b"<html><h1>502 Bad Gateway</h1></html>", headers={"Content-Type": "text/html"}
    )
    transport = MockTransport(Scripted(html_502, html_502, html_502, then=J1))
    async with mock_session(transport) as session:
        with pytest.raises(InternalServerError) as caught:
            await session.get_job("j1")
    assert "502 Bad Gateway" in str(caught.value)
    assert len(transport.requests) == 3


async def test_slow_answer_times_out_and_is_retried(
    serve_answer: ServeAnswer, sleeps: RecordedSleeps
) -> None:
    calls = 0

    async def slow_then_fast(request: web.Request) -> web.Response:
        nonlocal calls
        calls += 1
        if calls == 1:
            await forever()
        return json_response(job_body("j1"))

    url = await serve_answer(slow_then_fast)
    policy = RetryPolicy(sleep=sleeps)
    async with AsyncSession(API_KEY, base_url=url, timeout=0.2, retry_policy=policy) as session:
        assert (await session.get_job("j1")).id == "j1"
        assert calls == 2
        calls = 0
        with pytest.raises(APITimeoutError) as caught:
            await session.get_job("j1", max_retries=0)
        assert "timed out" in str(caught.value)


async def test_waiting_for_a_slot_does_not_count_against_the_timeout() -> None:
    in_flight = 0
    most_in_flight = 0

    async def steady(request: WireRequest) -> WireResponse:
        nonlocal in_flight, most_in_flight
        in_flight += 1
        most_in_flight = max(most_in_flight, in_flight)
        await asyncio.sleep(0.15)
        in_flight -= 1
        return J1

    async with mock_session(steady, timeout=0.5, max_connections=1, max_retries=0) as session:
        jobs = await asyncio.gather(*(session.get_job("j1") for _ in range(6)))
    assert [job.id for job in jobs] == ["j1"] * 6  # 6 x 0.15 s queued > 0.5 s, none timed out
    assert most_in_flight == 1


async def test_call_deadline_bounds_all_retries() -> None:
    async def slow_503(request: WireRequest) -> WireResponse:
        await asyncio.sleep(0.1)
        return WireResponse.of(503, json={"detail": "busy"})

    transport = MockTransport(slow_503)
    # retries enough for minutes: only the call's deadline can end it (however loaded the
    # machine, and so however many attempts fit before it)
    policy = RetryPolicy(max_retries=10_000, initial_wait=0.01, max_wait=0.01)
    async with mock_session(transport, retry_policy=policy) as session:
        with anyio.fail_after(60), pytest.raises((APITimeoutError, InternalServerError)) as caught:
            await session.get_job("j1", timeout=0.35)
    assert "deadline" in str(caught.value) or caught.value.attempts > 1
    assert len(transport.requests) < 10_000 and caught.value.attempts < 10_000


async def test_retry_that_would_overrun_the_deadline_raises_the_last_error(
    sleeps: RecordedSleeps,
) -> None:
    transport = MockTransport(Scripted(status(429, {"Retry-After": "30"}), then=J1))
    async with mock_session(transport, sleeps) as session:
        with pytest.raises(RateLimitError, match="scripted 429") as caught:
            await session.get_job("j1", timeout=5)
    assert caught.value.retry_after == 30
    assert sleeps.waits == []
    assert len(transport.requests) == 1


async def test_cancelling_a_call_releases_its_connection(serve_answer: ServeAnswer) -> None:
    arrived = asyncio.Event()
    transports = []

    async def never(request: web.Request) -> web.Response:
        transports.append(request.transport)
        arrived.set()
        await forever()
        return json_response(job_body("j1"))

    url = await serve_answer(never)
    session = AsyncSession(API_KEY, base_url=url)
    task = asyncio.create_task(session.get_job("j1"))
    await arrived.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await wait_until(transports[0].is_closing)
    assert transports[0].is_closing()  # the client hung up

    arrived.clear()
    with anyio.move_on_after(0.2) as scope:  # an anyio cancel scope cancels it the same way
        await session.get_job("j1")
    assert scope.cancelled_caught
    await session.close()
    client = session._transport._client
    assert client is not None and (client.connector is None or client.closed)
    await wait_until(lambda: all(transport.is_closing() for transport in transports))
    assert len(transports) == 2
    assert all(transport.is_closing() for transport in transports)


async def test_same_origin_redirect_is_followed() -> None:
    def handler(request: WireRequest) -> WireResponse:
        if request.url.path == "/v1/fine_tuning/jobs/j1":
            return WireResponse.of(307, headers={"Location": "/v1/fine_tuning/jobs/j2"})
        return WireResponse.of(json=job_body("j2"))

    transport = MockTransport(handler)
    async with mock_session(transport) as session:
        assert (await session.get_job("j1")).id == "j2"
    assert [r.url.path for r in transport.requests] == [
        "/v1/fine_tuning/jobs/j1",
        "/v1/fine_tuning/jobs/j2",
    ]
    target = transport.requests[1]
    assert not target.foreign
    assert target.all_headers["Authorization"] == f"Bearer {API_KEY}"


STORAGE = "https://storage.example"


def to_storage(link: str, storage: WireResponse | Scripted) -> MockTransport:
    """The API redirects every request to ``link`` on the storage, which answers ``storage``."""

    async def handler(request: WireRequest) -> WireResponse:
        if str(request.url).startswith(STORAGE):
            return storage if isinstance(storage, WireResponse) else await storage(request)
        return WireResponse.of(302, headers={"Location": link})

    return MockTransport(handler)


async def test_redirect_to_another_origin_is_followed_without_the_key() -> None:
    transport = to_storage(f"{STORAGE}/bucket/j1?X-Amz-Signature=s3cr3t", J1)
    async with mock_session(transport, default_headers={"X-Team": "ml"}) as session:
        assert (await session.get_job("j1")).id == "j1"
        assert (await session.get_job("j1")).id == "j1"
    other_seen = [r.all_headers for r in transport.requests if r.url.host == "storage.example"]
    assert len(other_seen) == 2
    for headers in other_seen:
        assert "Authorization" not in headers and "X-Team" not in headers
        assert API_KEY not in str(headers)


async def test_redirect_to_another_origin_through_the_users_client_carries_no_key(
    serve_answer: ServeAnswer,
) -> None:
    other_seen: list[dict[str, str]] = []

    async def other(request: web.Request) -> web.Response:
        other_seen.append(dict(request.headers))
        return json_response(job_body("j1"))

    other_url = await serve_answer(other)

    async def moved(request: web.Request) -> web.Response:
        raise web.HTTPFound(other_url + "/bucket/j1?X-Amz-Signature=s3cr3t")

    url = await serve_answer(moved)
    # the key then travels with each request, not in the client's defaults
    async with (
        aiohttp.ClientSession() as client,
        AsyncSession(
            API_KEY, base_url=url, default_headers={"X-Team": "ml"}, client_session=client
        ) as session,
    ):
        assert (await session.get_job("j1")).id == "j1"
        assert (await session.get_job("j1")).id == "j1"  # the second hop reuses its client
    assert len(other_seen) == 2
    for headers in other_seen:
        assert "Authorization" not in headers and "X-Team" not in headers
        assert API_KEY not in str(headers)


async def test_storage_failures_show_no_part_of_the_signed_link() -> None:
    storage = Scripted(
        WireResponse.of(
            429, body=b"<Error><Code>SlowDown</Code></Error>", headers={"Retry-After": "2"}
        ),
        then=WireResponse.of(
            403,
            headers={"Content-Type": "application/xml"},
            body=b"<Error><Code>SignatureDoesNotMatch</Code><Message>The request signature we "
            b"calculated does not match</Message><SignatureProvided>s3cr3t</SignatureProvided>"
            b"<CanonicalRequest>X-Amz-Credential=AKIA%2F1</CanonicalRequest></Error>",
        ),
    )
    transport = to_storage(
        f"{STORAGE}/b/k?X-Amz-Credential=AKIA%2F1&X-Amz-Signature=s3cr3t", storage
    )
    sleeps = RecordedSleeps()
    policy = RetryPolicy(max_retries=1, sleep=sleeps)
    async with mock_session(transport, retry_policy=policy) as session:
        with pytest.raises(APIStatusError) as caught:
            await session.file_content("file-1")
    # the storage's Retry-After is slept here (the API's budget never saw it), and the link
    # was sent as signed, %2F and all
    assert sleeps.waits and sleeps.waits[0] >= 2
    queries = [r.url.raw_query_string for r in transport.requests if r.foreign]
    assert queries == ["X-Amz-Credential=AKIA%2F1&X-Amz-Signature=s3cr3t"] * 2
    assert caught.value.status_code == 403
    shown = f"{caught.value} {caught.value!r} {caught.value.detail}"
    assert "SignatureDoesNotMatch: The request signature we calculated" in shown
    assert "s3cr3t" not in shown and "AKIA" not in shown


async def test_redirect_to_plain_http_on_a_remote_host_is_refused() -> None:
    moved = WireResponse.of(
        302, headers={"Location": "http://storage.example/bucket/j1?X-Amz-Signature=s3cr3t"}
    )
    async with mock_session(lambda request: moved) as session:
        with pytest.raises(APIStatusError) as caught:
            await session.get_job("j1")
    assert caught.value.status_code == 302
    assert "plain http:// on storage.example" in str(caught.value)
    assert "s3cr3t" not in str(caught.value)


@pytest.mark.parametrize("chunked", [False, True])
async def test_huge_body_is_refused(serve_answer: ServeAnswer, chunked: bool) -> None:
    async def huge(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        if not chunked:
            response.content_length = 50_000
        await response.prepare(request)
        for _ in range(50):
            await response.write(b" " * 1000)
        return response

    url = await serve_answer(huge)
    async with AsyncSession(API_KEY, base_url=url, max_response_bytes=10_000) as session:
        with pytest.raises(ResponseDecodeError, match="10000 byte limit"):
            await session.get_job("j1")


def test_plain_http_to_a_remote_host_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="unencrypted"):
        AsyncSession(API_KEY, base_url="http://api.example.com")
    session = AsyncSession(API_KEY, base_url="http://api.example.com", allow_insecure_http=True)
    assert session.base_url == "http://api.example.com"


async def test_the_key_never_appears_in_errors_reprs_tracebacks_or_logs(
    serve_answer: ServeAnswer, caplog: pytest.LogCaptureFixture
) -> None:
    async def moved(request: web.Request) -> web.Response:
        raise web.HTTPFound("http://127.0.0.2:9/elsewhere")

    async def html(request: web.Request) -> web.Response:
        return web.Response(text="<html>oops</html>", content_type="text/html")

    def answer(code: int) -> Handler:
        async def scripted(request: web.Request) -> web.Response:
            return json_response({"detail": f"scripted {code}"}, status=code)

        return scripted

    faults = (answer(503), answer(500), answer(400), moved, html, truncated_body)
    api_url = await serve_answer(FaultsFirst(*faults))
    unreachable = api_url.rsplit(":", 1)[0] + ":1"
    texts: list[str] = []
    policy = RetryPolicy(max_retries=1, sleep=RecordedSleeps())
    with caplog.at_level(logging.DEBUG):
        async with AsyncSession(API_KEY, base_url=api_url, retry_policy=policy) as session:
            texts += [repr(session), str(session)]
            for _ in range(4):
                with pytest.raises(APIError) as caught:
                    await session.get_job("j1", max_retries=0)
                texts.append("".join(traceback.format_exception(caught.value)))
                texts += [str(caught.value), repr(caught.value), repr(vars(caught.value))]
        async with AsyncSession(API_KEY, base_url=unreachable, retry_policy=policy) as session:
            with pytest.raises(APIConnectionError) as caught_connection:
                await session.get_job("j1")
            texts.append("".join(traceback.format_exception(caught_connection.value)))
        wrong_key = "sk-not-the-right-one-123456"
        async with AsyncSession(wrong_key, base_url=api_url) as session:
            with pytest.raises(AuthenticationError) as caught_auth:
                await session.get_job("j1")
            texts.append("".join(traceback.format_exception(caught_auth.value)))
    texts.append(caplog.text)
    for text in texts:
        assert API_KEY not in text
        assert wrong_key not in text
    assert any("503" in text for text in texts)  # the scan did see the failures


async def test_bad_request_error_keeps_server_detail() -> None:
    async with mock_session(Scripted(status(400), then=J1)) as session:
        with pytest.raises(BadRequestError, match="scripted 400"):
            await session.get_job("j1")


async def test_compressed_body_is_capped_after_decompression(serve_answer: ServeAnswer) -> None:
    import gzip

    async def bomb(request: web.Request) -> web.Response:
        packed = gzip.compress(b'{"id": "' + b"a" * 2_000_000 + b'"}')
        return web.Response(
            body=packed, headers={"Content-Encoding": "gzip", "Content-Type": "application/json"}
        )

    url = await serve_answer(bomb)
    async with AsyncSession(API_KEY, base_url=url, max_response_bytes=100_000) as session:
        with pytest.raises(ResponseDecodeError, match="100000 byte limit"):
            await session.get_job("j1")


async def test_malformed_response_error_carries_no_aiohttp_context(
    serve_answer: ServeAnswer,
) -> None:
    async def brotli(request: web.Request) -> web.Response:
        return web.Response(
            body=b"not brotli",
            headers={"Content-Encoding": "br", "Content-Type": "application/json"},
        )

    url = await serve_answer(brotli)
    async with AsyncSession(API_KEY, base_url=url, max_retries=0) as session:
        with pytest.raises(APIConnectionError) as caught:
            await session.get_job("j1")
    assert caught.value.__context__ is None and caught.value.__cause__ is None
    assert API_KEY not in "".join(traceback.format_exception(caught.value))


async def test_server_echoing_the_key_is_redacted() -> None:
    def echo(request: WireRequest) -> WireResponse:
        return WireResponse.of(
            400,
            body=f"bad request; you sent {request.all_headers}".encode(),
            headers={"Content-Type": "text/plain"},
        )

    def echo_ok(request: WireRequest) -> WireResponse:
        page = f"<html>{request.all_headers['Authorization']}</html>"
        return WireResponse.of(body=page.encode(), headers={"Content-Type": "text/plain"})

    async with mock_session(Scripted(echo, echo_ok, then=J1)) as session:
        for expected in (BadRequestError, ResponseDecodeError):
            with pytest.raises(expected) as caught:
                await session.get_job("j1")
            error = caught.value
            texts = [str(error), repr(vars(error)), "".join(traceback.format_exception(error))]
            assert all(API_KEY not in text for text in texts)
            assert "[redacted]" in str(error)


@pytest.mark.parametrize("location", ["http://[::1", "http://127.0.0.1:99999/x"])
async def test_malformed_redirect_location_is_a_status_error(location: str) -> None:
    moved = WireResponse.of(302, headers={"Location": location})
    async with mock_session(lambda request: moved) as session:
        with pytest.raises(APIStatusError, match="Location is not a valid URL"):
            await session.get_job("j1")


async def test_redirect_loop_is_not_retried() -> None:
    loop = WireResponse.of(302, headers={"Location": "/v1/fine_tuning/jobs/again"})
    transport = MockTransport(lambda request: loop)
    async with mock_session(transport) as session:
        with pytest.raises(APIStatusError, match="more than 5 redirects"):
            await session.get_job("j1")
    assert len(transport.requests) == 6


async def test_close_while_calls_wait_for_a_slot() -> None:
    release = asyncio.Event()

    async def held(request: WireRequest) -> WireResponse:
        await release.wait()
        return J1

    session = mock_session(held, max_connections=1, max_retries=0)
    first = asyncio.create_task(session.get_job("j1"))
    queued = asyncio.create_task(session.get_job("j1"))
    await asyncio.sleep(0.05)
    closing = asyncio.create_task(session.close())
    release.set()
    await closing
    results = await asyncio.gather(first, queued, return_exceptions=True)
    assert all(isinstance(result, (NebiusError, FineTuningJob)) for result in results)
    assert isinstance(results[1], NebiusError)

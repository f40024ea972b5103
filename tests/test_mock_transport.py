"""MockTransport: the session's rules above the wire, run on a function instead of a socket."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from nebius_ft_async import (
    APIConnectionError,
    APITimeoutError,
    AsyncSession,
    ConfigurationError,
    MockTransport,
    NebiusError,
    NotFoundError,
    ResponseDecodeError,
    RetryPolicy,
    WireRequest,
    WireResponse,
)

from .samples import job_body

pytestmark = pytest.mark.anyio

KEY = "sk-mock-4b1d7e02"
JOB = "/v1/fine_tuning/jobs/ftjob-abc"


async def no_sleep(_seconds: float) -> None:
    return None


def session(handler: object, **options: object) -> AsyncSession:
    return AsyncSession(
        KEY,
        transport=MockTransport(handler),  # type: ignore[arg-type]
        retry_policy=RetryPolicy(sleep=no_sleep),
        **options,  # type: ignore[arg-type]
    )


async def test_a_call_is_answered_by_the_handler_with_the_session_headers() -> None:
    def handler(request: WireRequest) -> WireResponse:
        return WireResponse.of(json=job_body(request.url.path.rsplit("/", 1)[1]))

    transport = MockTransport(handler)
    async with AsyncSession(KEY, transport=transport) as client:
        job = await client.get_job("ftjob-abc", extra_headers={"X-Trace": "t1"})
    assert job.id == "ftjob-abc"
    (request,) = transport.requests
    assert (request.method, request.url.path) == ("GET", JOB)
    headers = request.all_headers
    assert headers["Authorization"] == f"Bearer {KEY}" and headers["X-Trace"] == "t1"
    assert headers["User-Agent"].startswith("nebius-ft-async/")


async def test_a_503_is_retried_and_a_404_is_not() -> None:
    answers = [WireResponse.of(503, json={"detail": "busy"}), WireResponse.of(json=job_body())]

    async def handler(request: WireRequest) -> WireResponse:
        if request.url.path.endswith("missing"):
            return WireResponse.of(404, json={"detail": "Job not found"})
        return answers.pop(0)

    async with session(handler) as client:
        assert (await client.get_job("ftjob-abc")).id
        with pytest.raises(NotFoundError, match="Job not found") as caught:
            await client.get_job("missing")
    assert answers == [] and caught.value.attempts == 1


async def test_a_create_is_not_retried_once_it_may_have_reached_the_server() -> None:
    sent: list[WireRequest] = []

    def handler(request: WireRequest) -> WireResponse:
        sent.append(request)
        raise APIConnectionError(
            "POST /v1/fine_tuning/jobs failed: reset", method="POST", path=request.path
        )

    async with session(handler) as client:
        with pytest.raises(APIConnectionError, match="reset"):
            await client.create_job(model="meta-llama/Llama-3.1-8B-Instruct", training_file="f")
    assert len(sent) == 1 and isinstance(sent[0].body, bytes)
    assert sent[0].all_headers["Content-Type"] == "application/json"


async def test_a_redirect_to_storage_carries_no_key_and_lands_in_the_file(tmp_path: Path) -> None:
    def handler(request: WireRequest) -> WireResponse:
        if request.url.host == "storage.example":
            return WireResponse.of(body=b"weights", headers={"X-Amz-Request-Id": "s3"})
        location = "https://storage.example/bucket/w?X-Amz-Signature=sig"
        return WireResponse.of(302, headers={"Location": location})

    transport = MockTransport(handler)
    async with AsyncSession(KEY, transport=transport) as client:
        written = await client.download_file("file-1", tmp_path / "w.bin")
    assert written.read_bytes() == b"weights"
    api, storage = transport.requests
    assert api.all_headers["Authorization"] == f"Bearer {KEY}"
    assert storage.foreign and "Authorization" not in storage.all_headers
    assert not any(KEY in value for value in storage.all_headers.values())


async def test_an_undecodable_or_too_large_body_is_a_decode_error() -> None:
    def handler(request: WireRequest) -> WireResponse:
        if request.url.path.endswith("big"):
            return WireResponse.of(json={"id": "x" * 2000})
        return WireResponse.of(body=b"<html>oops</html>", headers={"Content-Type": "text/html"})

    async with session(handler, max_response_bytes=1000) as client:
        with pytest.raises(ResponseDecodeError, match="text/html"):
            await client.get_job("ftjob-abc")
        with pytest.raises(ResponseDecodeError, match="1000 byte limit"):
            await client.get_job("big")


async def test_each_attempt_is_bounded_by_the_session_timeout() -> None:
    async def hang(_request: WireRequest) -> WireResponse:
        await asyncio.sleep(3600)
        raise AssertionError("not reached")

    async with session(hang, timeout=0.05, max_retries=1) as client:
        with pytest.raises(APITimeoutError, match="timed out") as caught:
            await client.get_job("ftjob-abc")
    assert caught.value.attempts == 2  # a read that timed out is retried


async def test_bad_handlers_and_mixed_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="handler must be callable"):
        MockTransport("not a function")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="proxy=, ssl= cannot apply"):
        AsyncSession(KEY, transport=MockTransport(lambda r: None), proxy="http://p:1", ssl=False)  # type: ignore[arg-type,return-value]
    async with session(lambda request: {"id": "x"}) as client:
        with pytest.raises(NebiusError, match="returned dict, not a WireResponse"):
            await client.get_job("ftjob-abc")
    closed = session(lambda request: WireResponse.of(json=job_body()))
    await closed.close()
    with pytest.raises(NebiusError, match="closed"):
        await closed.get_job("ftjob-abc")


async def test_a_request_never_shows_the_key_and_plain_headers_are_read_in_any_case(
    tmp_path: Path,
) -> None:
    def handler(request: WireRequest) -> WireResponse:
        if request.url.host == "storage.example":
            return WireResponse(200, {"content-length": "1"}, b"w")
        # a plain dict, as a test may write it: "location" is still found
        return WireResponse(302, {"Location": "https://storage.example/o?X-Amz-Signature=s"})

    transport = MockTransport(handler)
    progress: list[tuple[int, int | None]] = []
    async with AsyncSession(KEY, transport=transport) as client:
        await client.download_file(
            "file-1", tmp_path / "w", on_progress=lambda done, total: progress.append((done, total))
        )
    api, storage = transport.requests
    assert KEY not in repr(api) and "Authorization" in repr(api)
    assert dict(storage.session_headers) == {}  # nothing of the session's to another origin
    assert progress[-1] == (1, 1)
    with pytest.raises(TypeError):
        api.session_headers["Authorization"] = "changed"  # type: ignore[index]


async def test_a_given_transport_is_the_callers_to_close_and_may_serve_two_sessions() -> None:
    transport = MockTransport(lambda request: WireResponse.of(json=job_body()))
    first = AsyncSession(KEY, transport=transport)
    second = AsyncSession(KEY, transport=transport)
    await first.get_job("ftjob-abc")
    await first.close()
    with pytest.raises(NebiusError, match="this AsyncSession is closed"):
        await first.get_job("ftjob-abc")
    assert (await second.get_job("ftjob-abc")).id  # still served
    await second.close()
    assert len(transport.requests) == 2

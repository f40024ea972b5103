"""Hostile answers, as classes: every failure a NebiusError (transient ones still retried), the
key out of every echo whatever its spelling, and the path shown as requested."""

from __future__ import annotations

import json
import logging
import traceback
from collections.abc import Callable
from typing import Any

import pytest
from aiohttp import web

from nebius_ft_async import (
    APIStatusError,
    AsyncSession,
    AuthenticationError,
    InternalServerError,
    MockTransport,
    NotFoundError,
    ResponseDecodeError,
    RetryPolicy,
    WaitTimeout,
    WireRequest,
    WireResponse,
    wait_for_job,
)
from nebius_ft_async._redaction import KeyRedactor
from nebius_ft_async._retry import parse_retry_after

from .conftest import RecordedSleeps, ServeAnswer, json_response
from .mocks import LOOPBACK
from .samples import job_body

pytestmark = pytest.mark.anyio

KEY = "sk-live/4f1c-9e2b+7a6d"  # a slash and dashes: the characters servers like to escape


def raw(body: bytes, status: int = 200, **headers: str) -> web.Response:
    return web.Response(body=body, status=status, content_type="application/json", headers=headers)


def json_bytes(body: bytes, status: int = 200, **headers: str) -> WireResponse:
    return WireResponse.of(
        status, body=body, headers={"Content-Type": "application/json", **headers}
    )


def key_session(
    handler: MockTransport | Callable[[WireRequest], Any], **options: Any
) -> AsyncSession:
    """A session with this module's key (a slash, a plus, dashes) on a MockTransport."""
    transport = handler if isinstance(handler, MockTransport) else MockTransport(handler)
    return AsyncSession(KEY, transport=transport, **options)


# -- every failure a NebiusError --------------------------------------------------------

BROKEN_BODIES = {
    "invalid UTF-8 in a string": b'{"id": "j\xff\xfe1", "status": "running"}',
    "nested 100,000 deep": b"[" * 100_000 + b"]" * 100_000,
    "a number past any float": b'{"id": "j1", "created_at": 1e400}',
    "not JSON at all": b"\x00\x01\x02",
}


@pytest.mark.parametrize("body", list(BROKEN_BODIES.values()), ids=list(BROKEN_BODIES))
async def test_a_broken_body_is_a_response_decode_error(body: bytes) -> None:
    async with key_session(lambda request: json_bytes(body)) as session:
        with pytest.raises(ResponseDecodeError) as caught:
            await session.get_job("j1")
    assert caught.value.status_code == 200
    assert "Unexpected response to GET /v1/fine_tuning/jobs/j1" in str(caught.value)


@pytest.mark.parametrize("body", list(BROKEN_BODIES.values()), ids=list(BROKEN_BODIES))
async def test_a_broken_body_on_a_500_stays_retryable(body: bytes) -> None:
    answers = [
        json_bytes(body, 500),
        json_bytes(json.dumps(job_body("j1", status="succeeded")).encode()),
    ]

    def answer(request: WireRequest) -> WireResponse:
        return answers.pop(0) if len(answers) > 1 else answers[0]

    policy = RetryPolicy(max_retries=0, sleep=RecordedSleeps())
    async with key_session(answer, retry_policy=policy, base_url=LOOPBACK) as session:
        with pytest.raises(InternalServerError):
            await session.get_job("j1")
        answers.insert(0, json_bytes(body, 500))
        job = await wait_for_job(session, "j1", poll_interval=0.001)  # keeps polling
    assert job.status == "succeeded"


@pytest.mark.parametrize(
    "value",
    [
        "Fri, 31 Dec 9999 23:59:59 GMT",
        "Sat, 01 Jan 99999 00:00:00 GMT",
        "Mon, 01 Jan 0001 00:00:00 GMT",
        "Sun Nov  6 08:49:37 99999999",
        "1e400",
        "nan",
        "-inf",
        "99999999999999999999999999999999",
    ],
)
def test_an_absurd_retry_after_is_ignored_or_finite(value: str) -> None:
    seconds = parse_retry_after({"retry-after": value})
    assert seconds is None or 0 <= seconds < float("inf")


async def test_a_redirect_with_credentials_is_refused_without_echoing_them() -> None:
    def moved(request: WireRequest) -> WireResponse:
        location = f"https://someone:hunter2@{request.url.host}/v1/fine_tuning/jobs/j2"
        return WireResponse.of(302, headers={"Location": location})

    async with key_session(moved) as session:
        with pytest.raises(APIStatusError, match="carries credentials") as caught:
            await session.get_job("j1")
    assert "hunter2" not in str(caught.value) and "someone" not in str(caught.value)


# -- the key in any spelling ------------------------------------------------------------

ESCAPED = {
    "JSON solidus": KEY.replace("/", "\\/"),
    "JSON unicode": "".join(f"\\u{ord(c):04x}" if c in "-/" else c for c in KEY),
    "JSON unicode upper": "".join(f"\\u{ord(c):04X}" for c in KEY),
    "percent": KEY.replace("/", "%2F").replace("+", "%2b"),
    "HTML": KEY.replace("-", "&#45;").replace("/", "&#x2f;"),
}


@pytest.mark.parametrize("spelling", list(ESCAPED.values()), ids=list(ESCAPED))
async def test_an_echoed_key_is_redacted_in_any_spelling(
    spelling: str, caplog: pytest.LogCaptureFixture
) -> None:
    calls = 0

    def answer(request: WireRequest) -> WireResponse:
        nonlocal calls
        if request.url.path.startswith("/v1/files/"):
            page = f"<p>{spelling}</p>".encode()
            return WireResponse.of(body=page, headers={"Content-Type": "text/html"})
        calls += 1
        body = f'{{"detail": "bad key {spelling}", "echo": {{"k{spelling}": ["{spelling}"]}}}}'
        return WireResponse(
            401 if calls == 1 else 503,
            {"Content-Type": "application/json", "x-request-id": f"req-{KEY}"},
            body.encode(),
            reason=f"Nope {KEY}",
        )

    texts: list[str] = []
    policy = RetryPolicy(max_retries=0, sleep=RecordedSleeps())
    with caplog.at_level(logging.DEBUG):
        async with key_session(answer, retry_policy=policy, base_url=LOOPBACK) as session:
            with pytest.raises(AuthenticationError) as auth:
                await session.get_job("j1")
            with pytest.raises(WaitTimeout) as waited:
                await wait_for_job(session, "j1", poll_interval=0.001, timeout=0.05)
            with pytest.raises(ResponseDecodeError) as decoded:
                await session.get_file("f1")
    for error in (auth.value, waited.value, decoded.value):
        texts += [str(error), repr(error), repr(vars(error))]
        texts.append("".join(traceback.format_exception(error)))
    texts += [repr(auth.value.detail), str(auth.value.request_id), decoded.value.body_excerpt]
    texts.append(caplog.text)
    assert "[redacted]" in str(auth.value)
    redactor = KeyRedactor(KEY)
    for text in texts:
        assert KEY not in text
        assert redactor.text(text) == text  # no spelling of it left either
    assert calls >= 2  # the wait saw the 503s and logged them


def test_the_redactor_leaves_other_text_alone() -> None:
    redactor = KeyRedactor(KEY)
    text = "sk-live/4f1c-9e2b+7a6 and sk-live is not the key"
    assert redactor.text(text) == text
    assert redactor.value({"a": [1, None, KEY]}) == {"a": [1, None, "[redacted]"]}
    assert redactor.bytes(b"x " + KEY.encode() + b" y") == b"x [redacted] y"


# -- the path as requested --------------------------------------------------------------


async def test_errors_show_the_base_urls_own_path() -> None:
    def answer(request: WireRequest) -> WireResponse:
        if request.url.path.startswith("/api/v1/files/"):
            return WireResponse.of(body=b"<html/>", headers={"Content-Type": "text/html"})
        return WireResponse.of(404, json={"detail": f"no {request.url.path}"})

    transport = MockTransport(answer)
    async with key_session(transport, base_url="https://api.example.com/api/v1") as session:
        with pytest.raises(NotFoundError, match="no /api/v1/fine_tuning/jobs/j1") as caught:
            await session.get_job("j1")
        with pytest.raises(ResponseDecodeError) as decoded:
            await session.get_file("f1")
    assert [r.url.path for r in transport.requests] == [
        "/api/v1/fine_tuning/jobs/j1",
        "/api/v1/files/f1",
    ]
    assert caught.value.path == "/api/v1/fine_tuning/jobs/j1"
    assert "GET /api/v1/fine_tuning/jobs/j1" in str(caught.value)
    assert "GET /api/v1/files/f1" in str(decoded.value)


def test_broken_json_details_never_raise() -> None:
    from nebius_ft_async._errors import parse_error_body

    for body in BROKEN_BODIES.values():
        summary, _ = parse_error_body(body)
        assert isinstance(summary, str)


# -- small traps ------------------------------------------------------------------------


async def test_on_update_raising_ends_that_wait_alike_everywhere() -> None:
    from nebius_ft_async import JobWaitError, wait_for_jobs
    from nebius_ft_async.testing import FakeTokenFactory

    class Boom(Exception):
        pass

    def explode_on_running(job: Any) -> None:
        if job.id == victim and job.status == "running":
            raise Boom(job.id)

    async with FakeTokenFactory() as fake:
        victim, other = fake.add_job(running_steps=2), fake.add_job(running_steps=2)
        async with fake.session() as session:
            with pytest.raises(JobWaitError) as alone:
                await wait_for_job(
                    session, victim, poll_interval=0.001, on_update=explode_on_running
                )
            victim = fake.add_job(running_steps=2)
            results = await wait_for_jobs(
                session, [victim, other], poll_interval=0.001, on_update=explode_on_running
            )
    for error in (alone.value, results[victim]):
        assert isinstance(error, JobWaitError)
        assert isinstance(error.error, Boom) and error.__cause__ is error.error
        assert error.job is not None and error.job.status == "running"
        assert "on_update raised Boom" in str(error)
    assert not isinstance(results[other], JobWaitError)
    assert results[other].status == "succeeded"


TWO_LOOPS = """
import asyncio, sys, threading
from nebius_ft_async import AsyncSession, NebiusError
from nebius_ft_async.testing import FakeTokenFactory

fake, loop, ready = FakeTokenFactory(), asyncio.new_event_loop(), threading.Event()
def serve():
    loop.run_until_complete(fake.start()); ready.set(); loop.run_forever()
threading.Thread(target=serve, daemon=True).start()
ready.wait()
job = fake.add_job()
session = AsyncSession(fake.api_key, base_url=fake.url)
print(asyncio.run(session.get_job(job)).id)
try:
    asyncio.run(session.get_job(job))
except NebiusError as error:
    print("NebiusError:", error)
"""


async def test_a_session_used_after_its_event_loop_closed_says_so() -> None:
    import sys

    import anyio

    with anyio.fail_after(60):
        done = await anyio.run_process(
            [sys.executable, "-X", "dev", "-W", "always", "-c", TWO_LOOPS], check=False
        )
    out, err = done.stdout.decode(), done.stderr.decode()
    assert done.returncode == 0, err
    assert "ftjob-000001" in out
    assert "NebiusError: this AsyncSession was used in another event loop" in out
    assert "Unclosed client session" not in err
    assert "Unclosed connector" not in err


# -- no stalled transfer ----------------------------------------------------------------


async def test_an_upload_the_server_stops_taking_ends_at_the_session_timeout(
    serve_answer: ServeAnswer, tmp_path: Any
) -> None:
    import anyio

    from nebius_ft_async import APITimeoutError

    reading_stopped = []
    release = anyio.Event()

    async def take_nothing(request: web.Request) -> web.Response:
        reading_stopped.append(True)  # headers read; the body is never read
        await release.wait()  # (aiohttp does not cancel a handler whose client went away)
        return json_response({"detail": "too late"}, 400)

    url = await serve_answer(take_nothing)
    big = tmp_path / "big.jsonl"
    big.write_bytes(b"u" * (64 * 1024 * 1024))  # more than every buffer on the way
    async with AsyncSession(KEY, base_url=url, timeout=0.3) as session:
        with anyio.fail_after(60), pytest.raises(APITimeoutError, match="stalled") as caught:
            await session.upload_file(big)
        for body in (b"x" * (64 * 1024 * 1024),):  # bytes are streamed the same way
            with anyio.fail_after(60), pytest.raises(APITimeoutError, match="stalled"):
                await session.upload_file(body, filename="b.jsonl")
    release.set()
    assert reading_stopped
    assert caught.value.path == "/v1/files"


async def test_a_dataset_part_the_server_stops_taking_is_sent_again_like_a_read(
    serve_answer: ServeAnswer, tmp_path: Any
) -> None:
    import anyio

    from nebius_ft_async import APITimeoutError

    arrived = []
    release = anyio.Event()

    async def take_nothing(request: web.Request) -> web.Response:
        arrived.append(True)  # headers read; the body is never read
        await release.wait()
        return json_response({"detail": "too late"}, 400)

    url = await serve_answer(take_nothing)
    big = tmp_path / "rows.jsonl"
    big.write_bytes(b"u" * (64 * 1024 * 1024))
    async with AsyncSession(KEY, base_url=url, timeout=0.3, max_retries=1) as session:
        with anyio.fail_after(60), pytest.raises(APITimeoutError, match="stalled") as caught:
            await session.upload_dataset_part("upload-1", big, offset=0, length=big.stat().st_size)
    release.set()
    assert len(arrived) == 2  # a part sent twice is harmless: it was retried once
    assert caught.value.attempts == 2


async def test_a_monitor_keeps_a_job_whose_numbers_exceed_64_bits() -> None:
    from nebius_ft_async import wait_for_jobs

    def huge(request: WireRequest) -> WireResponse:
        job_id = request.url.path.rsplit("/", 1)[1]
        body = job_body(job_id, status="running", trained_steps=10**30)
        return json_bytes(json.dumps(body).encode())

    async with key_session(huge, base_url=LOOPBACK) as session:
        results = await wait_for_jobs(session, ["j1"], poll_interval=0.01, timeout=0.1)
    timed_out = results["j1"]
    assert isinstance(timed_out, WaitTimeout)
    assert timed_out.job is not None and timed_out.job.trained_steps == 10**30


# -- no short body saved ----------------------------------------------------------------


def gzipped(data: bytes) -> bytes:
    import gzip

    return gzip.compress(data)


async def cut_gzip(request: web.Request, data: bytes) -> web.StreamResponse:
    """A gzip body that ends cleanly (chunked, then the last chunk) before its stream does."""
    response = web.StreamResponse(headers={"Content-Encoding": "gzip"})
    response.content_type = "application/octet-stream"
    await response.prepare(request)
    packed = gzipped(data)
    await response.write(packed[: len(packed) // 2])
    await response.write_eof()
    return response


async def test_a_cut_compressed_body_is_retried_and_never_kept_short(
    serve_answer: ServeAnswer, tmp_path: Any
) -> None:
    from nebius_ft_async import APIConnectionError

    content = bytes(range(256)) * 4000  # ~1 MB that does not compress to nothing
    cuts = {"content": 1, "download": 99, "job": 1}

    async def file_content(request: web.Request) -> web.StreamResponse:
        key = request.path.split("/")[3]
        if cuts[key] > 0:
            cuts[key] -= 1
            return await cut_gzip(request, content)
        return web.Response(body=gzipped(content), headers={"Content-Encoding": "gzip"})

    async def get_job(request: web.Request) -> web.StreamResponse:
        body = json.dumps(job_body("j1", status="running", suffix="s" * 50_000)).encode()
        if cuts["job"] > 0:
            cuts["job"] -= 1
            return await cut_gzip(request, body)
        return raw(gzipped(body), **{"Content-Encoding": "gzip"})

    async def answer(request: web.Request) -> web.StreamResponse:
        if request.path.startswith("/v1/files/"):
            return await file_content(request)
        return await get_job(request)

    url = await serve_answer(answer)
    policy = RetryPolicy(sleep=RecordedSleeps())
    async with AsyncSession(KEY, base_url=url, retry_policy=policy) as session:
        assert await session.file_content("content") == content  # the cut answer was retried
        assert (await session.get_job("j1")).suffix == "s" * 50_000
        with pytest.raises(APIConnectionError, match="cut short") as caught:
            await session.download_file("download", tmp_path / "model.bin")
    assert caught.value.attempts == 3
    assert list(tmp_path.iterdir()) == []  # no short file, under any name


async def test_a_compressed_download_dropped_midway_leaves_nothing(
    serve_answer: ServeAnswer, tmp_path: Any
) -> None:
    from nebius_ft_async import APIConnectionError

    packed = gzipped(bytes(range(256)) * 4000)

    async def drop(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(
            headers={"Content-Encoding": "gzip", "Content-Length": str(len(packed))}
        )
        await response.prepare(request)
        await response.write(packed[:1000])
        assert request.transport is not None
        request.transport.close()
        return response

    url = await serve_answer(drop)
    async with AsyncSession(KEY, base_url=url, max_retries=0) as session:
        with pytest.raises(APIConnectionError):
            await session.download_file("f", tmp_path / "model.bin")
        with pytest.raises(APIConnectionError):
            await session.file_content("f")
    assert list(tmp_path.iterdir()) == []


async def test_raw_deflate_and_zlib_deflate_bodies_both_read(serve_answer: ServeAnswer) -> None:
    import zlib

    body = json.dumps(job_body("j1", status="running")).encode()
    raw_deflate = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    encodings = [zlib.compress(body), raw_deflate.compress(body) + raw_deflate.flush()]

    async def deflated(request: web.Request) -> web.Response:
        return raw(encodings.pop(0), **{"Content-Encoding": "deflate"})

    url = await serve_answer(deflated)
    async with AsyncSession(KEY, base_url=url) as session:
        assert (await session.get_job("j1")).id == "j1"
        assert (await session.get_job("j1")).id == "j1"


async def test_a_gzip_body_of_several_members_is_read_whole(serve_answer: ServeAnswer) -> None:
    first, second = b"a" * 70_000, b"b" * 70_000

    async def members(request: web.Request) -> web.Response:
        return web.Response(
            body=gzipped(first) + gzipped(second), headers={"Content-Encoding": "gzip"}
        )

    url = await serve_answer(members)
    async with AsyncSession(KEY, base_url=url) as session:
        assert await session.file_content("f") == first + second

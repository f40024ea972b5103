"""FakeTokenFactory.transport(): the fake answering a session in process, with no socket."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from nebius_ft_async import (
    APIConnectionError,
    AsyncSession,
    AuthenticationError,
    NebiusError,
    NotFoundError,
    RetryPolicy,
    UnprocessableEntityError,
)
from nebius_ft_async.testing import FakeTokenFactory

pytestmark = pytest.mark.anyio


async def no_wait(seconds: float) -> None:
    return None


@pytest.fixture
def no_sockets(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any attempt to open a connection fails the test."""

    async def refused(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("a connection was opened")

    monkeypatch.setattr(asyncio.BaseEventLoop, "create_connection", refused)
    monkeypatch.setattr(asyncio.BaseEventLoop, "sock_connect", refused)


@pytest.fixture
async def fake(no_sockets: None) -> AsyncIterator[FakeTokenFactory]:
    fake = FakeTokenFactory()
    yield fake
    assert fake.requests  # every test here reached the fake


async def test_a_fake_that_does_not_listen_answers_jobs_in_process(
    fake: FakeTokenFactory,
) -> None:
    transport = fake.transport()
    assert (fake.url, fake.storage_url) == ("http://localhost", "http://127.0.0.2")
    job_id = fake.add_job(running_steps=2, total_steps=20)
    async with fake.session(transport=transport) as session:
        assert (await session.get_job(job_id)).status == "validating_files"
        final = await session.wait_for_job(job_id, poll_interval=0.001)
        assert (await session.list_jobs()).data[0].id == job_id
    await transport.close()
    assert final.status == "succeeded" and final.trained_steps == 20
    assert fake.requests[f"/v1/fine_tuning/jobs/{job_id}"] == 5
    assert all(request.url.host == "localhost" for request in transport.requests)


async def test_an_upload_a_created_job_and_a_download_through_the_storage(
    fake: FakeTokenFactory, tmp_path: Path
) -> None:
    source = tmp_path / "train.jsonl"
    source.write_bytes(b'{"messages": []}\n' * 100)
    transport = fake.transport()
    async with fake.session(transport=transport) as session:
        uploaded = await session.upload_file(source)
        job = await session.create_job(model="m", training_file=uploaded.id, suffix="demo")
        assert (job.suffix, job.training_file) == ("demo", uploaded.id)
        assert await session.file_content(uploaded.id) == source.read_bytes()
        final = await session.wait_for_job(job.id, poll_interval=0.001)
        saved = await session.download_file(final.result_files[-1], tmp_path / "weights")
    await transport.close()
    assert uploaded.bytes == source.stat().st_size
    assert fake.file_contents[uploaded.id] == source.read_bytes()
    assert saved.read_bytes() == fake.file_contents[final.result_files[-1]]
    downloads = [r for r in transport.requests if r.url.host == "127.0.0.2"]
    assert len(downloads) == fake.storage_requests == 2  # each content call was redirected
    assert all("Authorization" not in r.all_headers for r in downloads)


async def test_refused_input_is_the_same_422_as_over_a_socket(
    fake: FakeTokenFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    transport = fake.transport()
    async with fake.session(transport=transport) as session:
        with pytest.raises(UnprocessableEntityError) as in_process:
            await session.list_jobs(extra_query={"limit": "many"})
        with pytest.raises(NotFoundError, match="Job ftjob-nope not found"):
            await session.get_job("ftjob-nope")
    await transport.close()
    monkeypatch.undo()  # sockets again, for the same fake listening
    async with fake, fake.session() as session:
        with pytest.raises(UnprocessableEntityError) as over_a_socket:
            await session.list_jobs(extra_query={"limit": "many"})
    assert in_process.value.detail == over_a_socket.value.detail
    assert in_process.value.detail == [
        {
            "type": "int_parsing",
            "loc": ["query", "limit"],
            "msg": "Input should be a valid integer, unable to parse string as an integer",
            "input": "many",
        }
    ]


async def test_pages_follow_the_cursor(fake: FakeTokenFactory) -> None:
    job_ids = fake.add_jobs(7, finish_after=0)
    transport = fake.transport()
    async with fake.session(transport=transport) as session:
        first = await session.list_jobs(limit=3)
        second = await session.list_jobs(limit=3, after=first.data[-1].id)
        walked = [job.id async for job in session.iter_jobs(page_size=2)]
    await transport.close()
    assert [job.id for job in first.data + second.data] == job_ids[::-1][:6]
    assert first.has_more and second.has_more
    assert walked == job_ids[::-1]
    assert fake.requests["/v1/fine_tuning/jobs"] == 2 + 4


async def test_the_key_faults_and_a_dropped_connection_are_served_as_over_a_socket(
    fake: FakeTokenFactory,
) -> None:
    job_id = fake.add_job()
    transport = fake.transport()
    async with AsyncSession("wrong-key", base_url=fake.url, transport=transport) as stranger:
        with pytest.raises(AuthenticationError, match="Invalid or missing API key"):
            await stranger.get_job(job_id)
    fake.fail_next("drop")
    fake.fail_next(503)
    policy = RetryPolicy(sleep=no_wait)
    async with fake.session(transport=transport, retry_policy=policy) as session:
        assert (await session.get_job(job_id)).id == job_id  # a read is retried past both
        fake.fail_next("drop")
        with pytest.raises(APIConnectionError, match="the connection closed") as caught:
            await session.create_job(model="m", training_file="file-training")
    await transport.close()
    assert caught.value.request_sent  # so a create is not sent again
    assert fake.requests[f"/v1/fine_tuning/jobs/{job_id}"] == 4


async def test_a_listening_fake_is_answered_in_process_too(no_sockets: None) -> None:
    fake = FakeTokenFactory()
    await fake.start()  # it listens: its own url and storage_url stay
    try:
        transport = fake.transport()
        assert fake.url.startswith("http://127.0.0.1:")
        job_id = fake.add_job()
        async with fake.session(transport=transport) as session:
            assert (await session.get_job(job_id)).id == job_id
        await transport.close()
        with pytest.raises(NebiusError, match="closed"):
            transport.ready()
    finally:
        await fake.stop()

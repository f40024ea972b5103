"""nebius_ft_async.testing.FakeTokenFactory, driven by the real client."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import msgspec
import pytest

from nebius_ft_async import (
    APIConnectionError,
    AsyncSession,
    AuthenticationError,
    BadRequestError,
    DatasetFileResult,
    FineTuningJob,
    JobWaitError,
    NotFoundError,
    RateLimitError,
    RetryPolicy,
    follow_events,
    wait_for_jobs,
)
from nebius_ft_async.testing import FakeTokenFactory

pytestmark = pytest.mark.anyio


async def no_wait(seconds: float) -> None:
    return None


@pytest.fixture
async def fake() -> FakeTokenFactory:
    async with FakeTokenFactory() as fake:
        yield fake  # type: ignore[misc]


async def test_a_job_advances_one_step_per_poll(fake: FakeTokenFactory) -> None:
    job_id = fake.add_job(running_steps=3, total_steps=90)
    async with fake.session() as session:
        seen = [(await session.get_job(job_id)) for _ in range(7)]
    assert [job.status for job in seen] == [
        "validating_files",
        "queued",
        "running",
        "running",
        "running",
        "succeeded",
        "succeeded",
    ]
    assert [job.trained_steps for job in seen[2:5]] == [30, 60, 90]
    assert seen[-1].progress == 1.0 and seen[-1].is_terminal
    assert seen[-1].result_files  # checkpoint files to download


async def test_failed_job_carries_its_error(fake: FakeTokenFactory) -> None:
    job_id = fake.add_job(outcome="failed", running_steps=2)
    async with fake.session() as session:
        job = await session.wait_for_job(job_id, poll_interval=0.001)
        errors = await session.get_operation_errors(job_id)
    assert job.status == "failed"
    assert job.error is not None and job.error.code == "training_diverged"
    assert errors == ["the training loss diverged"]


async def test_jobs_advance_by_time(fake: FakeTokenFactory) -> None:
    job_id = fake.add_job(step_seconds=0.01, running_steps=2)
    async with fake.session() as session:
        job = await session.wait_for_job(job_id, poll_interval=0.005, timeout=10)
    assert job.status == "succeeded"


async def test_bearer_key_is_checked(fake: FakeTokenFactory) -> None:
    async with AsyncSession("wrong-key", base_url=fake.url) as session:
        with pytest.raises(AuthenticationError, match="Invalid or missing API key"):
            await session.list_jobs()


async def test_faults_are_served_first(fake: FakeTokenFactory) -> None:
    job_id = fake.add_job()
    fake.fail_next(429, retry_after=7)
    fake.fail_next("drop", times=2)  # aiohttp itself resends once on a reused connection
    fake.fail_next(503, times=2, path="/v1/files")
    # the 429's Retry-After holds the session's next requests too: no_wait skips that wait
    async with fake.session(retry_policy=RetryPolicy(max_retries=0, sleep=no_wait)) as session:
        with pytest.raises(RateLimitError) as caught:
            await session.get_job(job_id)
        assert caught.value.retry_after == 7
        with pytest.raises(APIConnectionError):
            await session.get_job(job_id)
        assert (await session.get_job(job_id)).id == job_id  # the /v1/files faults wait
        with pytest.raises(NotFoundError, match="Job nope not found"):
            await session.get_job("nope")
    async with fake.session(retry_policy=RetryPolicy(sleep=no_wait)) as session:
        assert (await session.list_files()).data == []  # two 503s, retried
    assert fake.requests["/v1/files"] == 3


async def test_the_whole_workflow(fake: FakeTokenFactory, tmp_path: Path) -> None:
    source = tmp_path / "train.jsonl"
    source.write_bytes(b'{"messages": []}\n' * 1000)
    async with fake.session() as session:
        with pytest.raises(BadRequestError, match="not found"):
            await session.create_job(model="m", training_file="file-missing")
        uploaded = await session.upload_file(source)
        assert uploaded.bytes == source.stat().st_size
        job = await session.create_job(model="m", training_file=uploaded.id, suffix="demo")
        assert job.suffix == "demo" and job.status == "validating_files"
        assert (await session.list_jobs()).data[0].id == job.id
        final = await session.wait_for_job(job.id, poll_interval=0.001)
        checkpoints = [c async for c in session.iter_checkpoints(job.id, page_size=2)]
        assert checkpoints and checkpoints[-1].result_files
        paths = await session.download_files(checkpoints[-1].result_files, tmp_path / "out")
        results = await session.get_operation_results(job.id)
    assert final.status == "succeeded"
    assert paths[0].read_bytes().startswith(f"weights of {job.id}".encode())
    assert not isinstance(results, DatasetFileResult)
    assert [c.id for c in results.data] == [c.id for c in checkpoints]


async def test_content_is_redirected_to_storage_that_takes_no_key(
    fake: FakeTokenFactory, tmp_path: Path
) -> None:
    source = tmp_path / "train.jsonl"
    source.write_bytes(b'{"text": "a"}\n')
    async with fake.session() as session:
        uploaded = await session.upload_file(source)
        assert await session.file_content(uploaded.id) == source.read_bytes()
        assert fake.storage_requests == 1
        assert fake.storage_url != fake.url
        headers = {"Authorization": f"Bearer {fake.api_key}"}
        async with aiohttp.ClientSession() as plain:
            content_url = f"{fake.url}/v1/files/{uploaded.id}/content"
            async with plain.get(content_url, headers=headers, allow_redirects=False) as answer:
                assert answer.status == 302
                link = answer.headers["Location"]
            assert link.startswith(f"{fake.storage_url}/files/{uploaded.id}?")
            async with plain.get(link, headers=headers) as with_key:
                assert with_key.status == 400
                assert "Only one auth mechanism" in await with_key.text()
            async with plain.get(link.replace("Signature=", "Signature=0")) as forged:
                assert forged.status == 403
            async with plain.get(link) as signed:
                assert signed.status == 200 and await signed.read() == source.read_bytes()


async def test_cancel_and_cancel_again(fake: FakeTokenFactory) -> None:
    job_id = fake.add_job(running_steps=10)
    async with fake.session() as session:
        await session.get_job(job_id)
        assert (await session.cancel_job(job_id)).status == "cancelled"
        with pytest.raises(BadRequestError, match="already cancelled"):
            await session.cancel_job(job_id)
        events = [event.message async for event in session.iter_events(job_id)]
    assert events[0] == "Job cancelled"  # the fake lists events newest first


async def test_follow_events_of_a_fake_job(fake: FakeTokenFactory) -> None:
    job_id = fake.add_job(running_steps=4)
    async with fake.session() as session:
        events = [e async for e in follow_events(session, job_id, poll_interval=0.001)]
    assert [e.created_at for e in events] == sorted(e.created_at for e in events)
    assert events[-1].message == "Job succeeded"
    assert [e.metrics["step"] for e in events if e.metrics] == [25, 50, 75, 100]
    assert len({e.id for e in events}) == len(events)


async def test_many_fake_jobs_and_one_unknown(fake: FakeTokenFactory) -> None:
    ids = [fake.add_job(running_steps=2) for _ in range(20)]
    async with fake.session() as session:
        results = await wait_for_jobs(session, [*ids, "ftjob-unknown"], poll_interval=0.001)
    assert all(isinstance(results[i], FineTuningJob) for i in ids)
    assert isinstance(results["ftjob-unknown"], JobWaitError)


async def test_bodies_carry_fields_the_client_does_not_model(fake: FakeTokenFactory) -> None:
    job_id = fake.add_job()
    async with fake.session() as session:
        job = await session.get_job(job_id)
    assert "fine_tuned_model" not in msgspec.structs.asdict(job)  # served, ignored


async def test_operations_move_when_polled(fake: FakeTokenFactory) -> None:
    job_id = fake.add_job(running_steps=2)
    statuses: list[str] = []
    async with fake.session() as session:
        operation = await session.wait_for_operation(
            job_id, poll_interval=0.001, on_update=lambda o: statuses.append(o.status)
        )
    assert operation.status == "succeeded"
    assert statuses == ["queued", "running", "succeeded"]


async def test_create_echoes_the_request_without_its_secrets(fake: FakeTokenFactory) -> None:
    from nebius_ft_async import WandbIntegration, WandbSettings

    async with fake.session() as session:
        uploaded = await session.upload_file(b"{}\n", filename="t.jsonl")
        job = await session.create_job(
            model="m",
            training_file=uploaded.id,
            seed=7,
            suffix="s",
            hyperparameters={"n_epochs": 5},
            integrations=[WandbIntegration(wandb=WandbSettings(project="p", api_key="k-secret"))],
        )
    assert (job.seed, job.suffix) == (7, "s")
    assert job.hyperparameters is not None and job.hyperparameters.n_epochs == 5
    assert job.integrations is not None and job.integrations[0].wandb is not None
    assert job.integrations[0].wandb.project == "p"
    served = msgspec.json.encode(fake._job_body(fake.jobs[job.id])).decode()
    assert '"project":"p"' in served and "k-secret" not in served


async def test_list_files_pages_like_the_api(fake: FakeTokenFactory) -> None:
    async with fake.session() as session:
        for index in range(12):
            await session.upload_file(b"x", filename=f"{index}.jsonl")
        assert len((await session.list_files()).data) == 10
        assert len((await session.list_files(limit=50)).data) == 12

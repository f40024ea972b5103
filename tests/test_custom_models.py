"""Custom models end to end against the shipped FakeTokenFactory: deploy from a job's
checkpoint, an uploaded adapter archive or Hugging Face; get, list, delete; wait for a model
and for an uploaded file; the typed ``ft`` checkpoint source of a job."""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import AsyncIterator
from pathlib import Path

import msgspec
import pytest

from nebius_ft_async import (
    AsyncSession,
    BadRequestError,
    CustomModel,
    CustomModelRequest,
    FileProcessingError,
    FtCheckpoint,
    ModelDeploymentError,
    ModelStatus,
    NotFoundError,
    WaitTimeout,
    plan_model_from_checkpoint,
    wait_for_file,
    wait_for_model,
)
from nebius_ft_async.testing import FakeTokenFactory

pytestmark = pytest.mark.anyio

TICK = 0.001
HF_URL = "https://huggingface.co/"


def adapter_zip(*names: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name in names:
            archive.writestr(name, b"{}")
    return buffer.getvalue()


@pytest.fixture
async def fake() -> AsyncIterator[FakeTokenFactory]:
    async with FakeTokenFactory() as fake:
        yield fake


@pytest.fixture
async def session(fake: FakeTokenFactory) -> AsyncIterator[AsyncSession]:
    async with fake.session() as session:
        yield session


async def finished_job(fake: FakeTokenFactory, session: AsyncSession) -> str:
    job_id = fake.add_job(running_steps=6, checkpoint_every=2)
    await session.wait_for_job(job_id, poll_interval=TICK)
    return job_id


async def test_a_job_s_last_checkpoint_is_deployed_and_becomes_active(
    fake: FakeTokenFactory, session: AsyncSession
) -> None:
    job_id = await finished_job(fake, session)
    checkpoints = [c async for c in session.iter_checkpoints(job_id)]
    last = max(checkpoints, key=lambda c: c.step_number)
    job = await session.get_job(job_id)

    created = await session.create_model_from_checkpoint(
        job, name="support-bot", description="first try"
    )
    assert created.status is ModelStatus.VALIDATING and not created.is_terminal
    assert created.source == f"{job_id}:{last.id}"
    assert created.base_model == job.model
    assert created.name.startswith(f"{job.model}-LoRa:support-bot-")
    assert created.description == "first try"

    statuses: list[str | None] = []
    model = await session.wait_for_model(
        created.name, poll_interval=TICK, on_update=lambda m: statuses.append(m.status)
    )
    assert model.status is ModelStatus.ACTIVE and model.is_terminal
    assert (model.job_id, model.checkpoint_id) == (job_id, last.id)
    assert statuses == ["validating", "active"]
    assert fake.requests[f"/v0/models/{created.name}"] == 3  # by vendor and full name


async def test_a_job_given_by_id_and_a_chosen_checkpoint(
    fake: FakeTokenFactory, session: AsyncSession
) -> None:
    job_id = await finished_job(fake, session)
    first = (await session.list_checkpoints(job_id, limit=1)).data[0]
    by_id = await session.create_model_from_checkpoint(
        job_id, name="early", checkpoint=first.id, base_model="meta-llama/Llama-3.1-8B-Instruct"
    )
    assert by_id.source == f"{job_id}:{first.id}"
    by_object = await session.create_model_from_checkpoint(job_id, name="again", checkpoint=first)
    assert by_object.source == by_id.source
    assert by_object.base_model == fake.jobs[job_id].model  # the job was fetched for it


async def test_checkpoints_that_cannot_be_deployed_are_refused_before_a_create(
    fake: FakeTokenFactory, session: AsyncSession
) -> None:
    fresh = fake.add_job()  # never polled: no checkpoint yet
    with pytest.raises(ValueError, match=f"job {fresh} has no checkpoint"):
        await session.create_model_from_checkpoint(fresh, name="too-early")
    job_id = await finished_job(fake, session)
    other = (await session.list_checkpoints(job_id)).data[0]
    with pytest.raises(ValueError, match="belongs to job"):
        await session.create_model_from_checkpoint(fresh, name="x", checkpoint=other)
    with pytest.raises(ValueError, match="name"):
        await session.create_model_from_checkpoint(job_id, name=" ")
    assert "/v0/models" not in fake.requests
    assert fake.models == {}


async def test_a_plan_reads_the_job_and_its_last_checkpoint_and_sends_nothing(
    fake: FakeTokenFactory, session: AsyncSession
) -> None:
    job_id = await finished_job(fake, session)
    checkpoints = sorted(
        [c async for c in session.iter_checkpoints(job_id)], key=lambda c: c.step_number
    )
    planned = await plan_model_from_checkpoint(session, job_id, name="bot", description="d")
    chosen = await session.plan_model_from_checkpoint(
        job_id, name="bot", checkpoint=checkpoints[0].id, base_model="other/base"
    )
    before = dict(fake.requests)
    with pytest.raises(ValueError, match="name"):
        await session.plan_model_from_checkpoint(job_id, name=" ")
    assert fake.requests == before  # refused before anything was read
    fresh = fake.add_job()
    with pytest.raises(ValueError, match=f"job {fresh} has no checkpoint"):
        await session.plan_model_from_checkpoint(fresh, name="bot")
    assert planned == CustomModelRequest(
        name="bot",
        base_model=fake.jobs[job_id].model,
        source=f"{job_id}:{checkpoints[-1].id}",
        description="d",
    )
    assert chosen.source == f"{job_id}:{checkpoints[0].id}" and chosen.base_model == "other/base"
    assert fake.models == {} and "/v0/models" not in fake.requests
    created = await session.create_model_from_checkpoint(job_id, name="bot", description="d")
    assert (created.source, created.base_model) == (planned.source, planned.base_model)


async def test_an_archive_upload_reports_its_progress(
    fake: FakeTokenFactory, session: AsyncSession
) -> None:
    seen: list[tuple[int, int | None]] = []
    content = adapter_zip("adapter_config.json")
    created = await session.create_model_from_archive(
        content,
        name="zip",
        base_model="Qwen/Qwen3-4B-fast",
        on_progress=lambda done, total: seen.append((done, total)),
    )
    assert created.source is not None and fake.file_contents[created.source] == content
    assert seen and seen[-1][0] == seen[-1][1] and seen[-1][0] >= len(content)


async def test_an_unknown_source_is_the_server_s_400(session: AsyncSession) -> None:
    with pytest.raises(BadRequestError, match="ftjob-nope:ftckpt-nope"):
        await session.create_model(
            name="m", base_model="meta-llama/Llama-3.1-8B-Instruct", source="ftjob-nope:ftckpt-nope"
        )


async def test_an_archive_is_uploaded_then_deployed(
    fake: FakeTokenFactory, session: AsyncSession, tmp_path: Path
) -> None:
    archive = tmp_path / "adapter.zip"
    archive.write_bytes(adapter_zip("adapter_config.json", "adapter_model.safetensors"))
    created = await session.create_model_from_archive(
        archive, name="from-zip", base_model="Qwen/Qwen3-4B-fast"
    )
    assert created.source is not None and created.source.startswith("file-")
    assert fake.file_contents[created.source] == archive.read_bytes()
    assert fake.files[created.source]["filename"] == "adapter.zip"
    model = await wait_for_model(session, created.name, poll_interval=TICK)
    assert model.status == "active" and model.file_id == created.source


async def test_a_bad_archive_ends_in_error_with_the_reason(
    fake: FakeTokenFactory, session: AsyncSession
) -> None:
    uploaded = await session.upload_model_archive(adapter_zip("README.md"), filename="a.zip")
    assert uploaded.filename == "a.zip"
    created = await session.create_model(
        name="broken", base_model="Qwen/Qwen3-4B-fast", source=uploaded.id
    )
    with pytest.raises(ModelDeploymentError) as caught:
        await session.wait_for_model(created.name, poll_interval=TICK)
    error = caught.value
    assert error.status_reason == "adapter_config.json not found in the archive"
    assert error.name == created.name and error.model.status is ModelStatus.ERROR
    assert "adapter_config.json not found" in str(error)


async def test_a_scripted_error_and_a_model_that_never_validates(
    fake: FakeTokenFactory, session: AsyncSession
) -> None:
    created = await session.create_model_from_hf(
        "org/adapter", name="hf", base_model="meta-llama/Meta-Llama-3.1-8B-Instruct"
    )
    assert created.source == "huggingface.co/org/adapter"
    fake.models[created.name].outcome = "error"
    fake.models[created.name].status_reason = "base model mismatch"
    with pytest.raises(ModelDeploymentError, match="base model mismatch"):
        await session.wait_for_model(created.name, poll_interval=TICK)

    slow = fake.add_model("meta-llama/slow-LoRa:slow-abcd", validating_polls=10**9)
    with pytest.raises(WaitTimeout) as caught:
        await session.wait_for_model(slow, poll_interval=0.01, timeout=0.3)
    assert caught.value.job_id == slow
    assert caught.value.model is not None and caught.value.model.status == "validating"
    assert "model meta-llama/slow-LoRa:slow-abcd" in str(caught.value)


async def test_hugging_face_sources(session: AsyncSession) -> None:
    url = "https://huggingface.co/org/adapter"
    model = await session.create_model_from_hf(url, name="hf", base_model="org/base")
    assert model.source == url
    for bad in ("", "adapter", "org/", "/adapter", "org/a/b", "org /adapter", HF_URL):
        with pytest.raises(ValueError, match="repo"):
            await session.create_model_from_hf(bad, name="hf", base_model="org/base")


async def test_short_names_get_list_and_delete(
    fake: FakeTokenFactory, session: AsyncSession
) -> None:
    fake.model_names = "short"
    created = await session.create_model_from_hf(
        "org/adapter", name="Sofrony-Test", base_model="meta-llama/Meta-Llama-3.1-8B-Instruct"
    )
    assert "/" not in created.name and created.name.startswith("Sofrony-Test-")
    model = await session.get_model(created.name)
    assert model.name == created.name
    assert fake.requests[f"/v0/models/{created.name}"] == 1

    listed = await session.list_models()
    assert [m.name for m in listed] == [created.name]
    assert all(isinstance(m, CustomModel) for m in listed)

    deleted = await session.delete_model(created.name)
    assert deleted.status is ModelStatus.DELETED
    assert await session.list_models() == []
    with pytest.raises(NotFoundError, match=f"Model {re.escape(created.name)} not found"):
        await session.get_model(created.name)


async def test_a_full_name_is_also_found_by_its_short_part(
    fake: FakeTokenFactory, session: AsyncSession
) -> None:
    full = fake.add_model("meta-llama/Meta-Llama-3.1-8B-Instruct-LoRa:bot-JuNN")
    assert (await session.get_model("bot-JuNN")).name == full
    assert (await session.delete_model(full)).status == "deleted"
    assert fake.models == {}


async def test_a_job_starts_from_a_typed_ft_checkpoint(
    fake: FakeTokenFactory, session: AsyncSession
) -> None:
    training = await session.upload_file(b'{"messages": []}\n', filename="train.jsonl")
    job = await session.create_job(
        model="meta-llama/Llama-3.1-8B-Instruct",
        training_file=training.id,
        from_checkpoint=FtCheckpoint(),
    )
    assert fake.jobs[job.id].request["from_checkpoint"] == {"type": "ft"}
    assert job.from_checkpoint is not None and job.from_checkpoint.type == "ft"
    assert msgspec.json.encode(FtCheckpoint()) == b'{"type":"ft"}'
    assert repr(FtCheckpoint()) == "FtCheckpoint()"


async def test_wait_for_file_until_processed(fake: FakeTokenFactory, session: AsyncSession) -> None:
    uploaded = await session.upload_file(b'{"messages": []}\n', filename="train.jsonl")
    fake.script_file(uploaded.id, "uploaded", "uploaded", "processed")
    seen: list[str | None] = []
    file = await session.wait_for_file(
        uploaded.id, poll_interval=TICK, on_update=lambda f: seen.append(f.status)
    )
    assert file.status == "processed" and file.is_terminal
    assert seen == ["uploaded", "processed"]
    assert fake.requests[f"/v1/files/{uploaded.id}"] == 3


async def test_wait_for_file_raises_the_details_of_an_error(
    fake: FakeTokenFactory, session: AsyncSession
) -> None:
    uploaded = await session.upload_file(b"not json\n", filename="train.jsonl")
    fake.script_file(uploaded.id, "uploaded", "error", status_details="line 1 is not JSON")
    with pytest.raises(FileProcessingError) as caught:
        await wait_for_file(session, uploaded.id, poll_interval=TICK)
    assert caught.value.file_id == uploaded.id
    assert caught.value.status_details == "line 1 is not JSON"
    assert caught.value.file.status == "error"
    assert "line 1 is not JSON" in str(caught.value)


def test_the_fake_refuses_scripts_it_cannot_play() -> None:
    fake = FakeTokenFactory()
    with pytest.raises(ValueError, match="no file"):
        fake.script_file("file-nope", "processed")
    fake.files["file-1"] = {"id": "file-1"}
    with pytest.raises(ValueError, match="at least one status"):
        fake.script_file("file-1")
    with pytest.raises(ValueError, match="outcome"):
        fake.add_model("m", outcome="deleted")  # type: ignore[arg-type]

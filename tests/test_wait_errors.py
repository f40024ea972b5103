"""One WaitError family: every wait that ends without what it waited for says what it
waited for (kind, id) and carries what it saw last; against the shipped fake."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from nebius_ft_async import (
    AsyncSession,
    FileProcessingError,
    JobWaitError,
    ModelDeploymentError,
    NebiusError,
    NotFoundError,
    WaitError,
    WaitTimeout,
)
from nebius_ft_async.testing import FakeTokenFactory

pytestmark = pytest.mark.anyio

TICK = 0.01


@pytest.fixture
async def session() -> AsyncIterator[tuple[FakeTokenFactory, AsyncSession]]:
    async with FakeTokenFactory() as fake, fake.session() as session:
        yield fake, session


def test_the_tree() -> None:
    for error in (JobWaitError, WaitTimeout, ModelDeploymentError, FileProcessingError):
        assert issubclass(error, WaitError) and issubclass(error, NebiusError)
    assert issubclass(WaitTimeout, JobWaitError) and issubclass(WaitTimeout, TimeoutError)
    assert not issubclass(ModelDeploymentError, JobWaitError)  # `except JobWaitError` as before
    assert not issubclass(FileProcessingError, JobWaitError)


async def test_a_timeout_carries_the_last_job_under_its_kind(
    session: tuple[FakeTokenFactory, AsyncSession],
) -> None:
    fake, client = session
    job_id = fake.add_job(finish_after=3600)
    with pytest.raises(WaitTimeout, match=rf"job {job_id} did not finish within 0.05 s") as caught:
        await client.wait_for_job(job_id, poll_interval=TICK, timeout=0.05)
    error = caught.value
    assert (error.kind, error.object_id, error.job_id) == ("job", job_id, job_id)
    assert error.last is not None and error.last is error.job and error.job.id == job_id
    assert error.operation is None and error.model is None and error.file is None


async def test_a_callback_that_raises_ends_the_wait_with_its_kind_and_cause(
    session: tuple[FakeTokenFactory, AsyncSession],
) -> None:
    fake, client = session
    with pytest.raises(
        NotFoundError, match="ftjob-missing not found"
    ):  # a permanent error is raised as it is
        await client.wait_for_job("ftjob-missing", poll_interval=TICK)

    def refuse(_job: object) -> None:
        raise RuntimeError("the callback broke")

    job_id = fake.add_job(finish_after=3600)
    with pytest.raises(JobWaitError, match="on_update raised") as caught:
        await client.wait_for_job(job_id, poll_interval=TICK, on_update=refuse)
    error = caught.value
    assert error.kind == "job" and isinstance(error.error, RuntimeError)
    assert error.__cause__ is error.error and error.job is error.last


async def test_model_and_file_errors_are_waits_of_their_kind(
    session: tuple[FakeTokenFactory, AsyncSession],
) -> None:
    fake, client = session
    created = await client.create_model_from_hf(
        "org/adapter", name="hf", base_model="meta-llama/Meta-Llama-3.1-8B-Instruct"
    )
    fake.models[created.name].outcome = "error"
    fake.models[created.name].status_reason = "base model mismatch"
    with pytest.raises(WaitError, match="base model mismatch") as model_error:
        await client.wait_for_model(created.name, poll_interval=TICK)
    assert isinstance(model_error.value, ModelDeploymentError)
    assert (model_error.value.kind, model_error.value.object_id) == ("model", created.name)
    assert model_error.value.last is model_error.value.model

    uploaded = await client.upload_file(b"not json\n", filename="train.jsonl")
    fake.script_file(uploaded.id, "uploaded", "error", status_details="line 1 is not JSON")
    with pytest.raises(WaitError, match="line 1 is not JSON") as file_error:
        await client.wait_for_file(uploaded.id, poll_interval=TICK)
    assert isinstance(file_error.value, FileProcessingError)
    assert (file_error.value.kind, file_error.value.object_id) == ("file", uploaded.id)
    assert file_error.value.last is file_error.value.file


async def test_an_operation_timeout_is_of_kind_operation(
    session: tuple[FakeTokenFactory, AsyncSession],
) -> None:
    fake, client = session
    job_id = fake.add_job(finish_after=3600)
    with pytest.raises(WaitTimeout, match="operation") as caught:
        await client.wait_for_operation(job_id, poll_interval=TICK, timeout=0.05)
    assert caught.value.kind == "operation" and caught.value.object_id == job_id
    assert caught.value.operation is caught.value.last

"""nebius-ft jobs create|list|cancel, end to end against FakeTokenFactory; the confirmation
asked on a real pseudo-terminal."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from nebius_ft_async.testing import FakeTokenFactory

from .cli_run import Result, nebius_ft, on_terminal
from .conftest import ServeAnswer

pytestmark = pytest.mark.anyio

CREATE = "/v1/fine_tuning/jobs"


@pytest.fixture
async def fake() -> AsyncIterator[FakeTokenFactory]:
    async with FakeTokenFactory(api_key="cli-jobs-key") as fake:
        async with fake.session() as session:
            await session.upload_file(b'{"text": "hello"}\n', filename="train.jsonl")
        yield fake


def training_file(fake: FakeTokenFactory) -> str:
    return next(iter(fake.files))


async def run(fake: FakeTokenFactory, *args: str) -> Result:
    return await nebius_ft(*args, url=fake.url, key=fake.api_key)


def create_args(fake: FakeTokenFactory, *more: str) -> list[str]:
    return ["jobs", "create", "--model", "m-8b", "--training-file", training_file(fake), *more]


async def test_dry_run_prints_the_request_and_sends_nothing(fake: FakeTokenFactory) -> None:
    before = dict(fake.requests)
    args = create_args(
        fake, "--epochs", "2", "--no-lora", "--learning-rate", "2e-5", "--batch-size", "8"
    )
    shown = await run(fake, *args, "--suffix", "bot", "--seed", "7", "--dry-run")
    assert shown.code == 0, shown.err
    assert shown.json_lines() == [
        {
            "model": "m-8b",
            "training_file": training_file(fake),
            "suffix": "bot",
            "seed": 7,
            "hyperparameters": {
                "n_epochs": 2,
                "lora": False,
                "learning_rate": 2e-5,
                "batch_size": 8,
            },
        }
    ]
    assert fake.requests == before and fake.jobs == {}


async def test_dry_run_shows_exactly_the_body_a_create_sends(serve_answer: ServeAnswer) -> None:
    bodies: list[bytes] = []

    async def create(request: web.Request) -> web.Response:
        assert (request.method, request.path) == ("POST", CREATE)
        bodies.append(await request.read())
        job = {"id": "ftjob-1", "created_at": 1, "model": "m", "status": "queued"}
        return web.json_response(job | {"training_file": "f", "queue_position": 4})

    url = await serve_answer(create)
    args = ["jobs", "create", "--model", "m", "--training-file", "f", "--batch-size", "8"]
    dry = await nebius_ft(*args, "--validation-file", "v", "--dry-run", url=url, key="k")
    assert bodies == []
    sent = await nebius_ft(*args, "--validation-file", "v", "--yes", "--json", url=url, key="k")
    assert sent.code == 0, sent.err
    assert bodies == [dry.out.strip().encode()]
    assert json.loads(bodies[0])["hyperparameters"] == {"batch_size": 8}  # a default, sent
    assert sent.json_lines()[0]["queue_position"] == 4  # type: ignore[index]


async def test_create_refuses_without_a_terminal_or_yes(fake: FakeTokenFactory) -> None:
    before = dict(fake.requests)
    refused = await run(fake, *create_args(fake))
    assert refused.code == 2
    assert "stdin is not a terminal" in refused.err and "--yes" in refused.err
    cancel = await run(fake, "jobs", "cancel", "ftjob-any")
    assert cancel.code == 2 and "--yes" in cancel.err
    assert fake.requests == before and fake.jobs == {}


async def test_create_with_yes_sends_the_request_and_prints_the_job(
    fake: FakeTokenFactory,
) -> None:
    created = await run(fake, *create_args(fake, "--lora", "--suffix", "bot", "--yes", "--json"))
    assert created.code == 0, created.err
    (job,) = created.json_lines()
    assert isinstance(job, dict)
    request = fake.jobs[job["id"]].request
    assert request["suffix"] == "bot" and request["hyperparameters"]["lora"] is True
    assert job["user_provided_suffix"] == "bot"  # a field no model declares, as sent

    plain = await run(fake, *create_args(fake, "--yes"))
    assert plain.code == 0 and plain.out.startswith("created ftjob-")


async def test_create_and_wait_exits_with_the_jobs_outcome(fake: FakeTokenFactory) -> None:
    waited = await run(fake, *create_args(fake, "--yes", "--wait", "--interval", "0.01"))
    assert waited.code == 0, waited.err
    created, *_, last = waited.out.splitlines()
    assert created.startswith("created ftjob-") and last.split()[:2] == [
        created.split()[1],
        "succeeded",
    ]


async def test_create_errors_and_usage(fake: FakeTokenFactory) -> None:
    unknown_file = await run(
        fake, "jobs", "create", "--model", "m", "--training-file", "f-x", "--yes"
    )
    assert unknown_file.code == 1 and "not found" in unknown_file.err
    for last in ("--yes", "--dry-run"):  # past the API's documented bounds: not sent
        too_many = await run(fake, *create_args(fake, "--epochs", "50", last))
        assert too_many.code == 2 and "n_epochs" in too_many.err
    for bad in (["--epochs", "0"], ["--learning-rate", "nan"], ["--suffix", "x" * 65]):
        usage = await run(fake, *create_args(fake, *bad, "--dry-run"))
        assert usage.code == 2, bad
    assert len(fake.jobs) == 0


async def test_list_and_cancel(fake: FakeTokenFactory) -> None:
    job_ids = fake.add_jobs(3, running_steps=50)
    listed = await run(fake, "jobs", "list", "--json", "--limit", "2")
    assert listed.code == 0, listed.err
    assert [job["id"] for job in listed.json_lines()] == job_ids[:0:-1]  # type: ignore[index]
    table = await run(fake, "jobs", "list")
    assert table.out.split()[:2] == ["id", "status"]
    assert [line.split()[0] for line in table.out.splitlines()[1:]] == job_ids[::-1]

    cancelled = await run(fake, "jobs", "cancel", job_ids[0], "--yes", "--json")
    assert cancelled.code == 0, cancelled.err
    (job,) = cancelled.json_lines()
    assert isinstance(job, dict) and job["status"] == "cancelled" and job["tags"] == []
    again = await run(fake, "jobs", "cancel", job_ids[0], "--yes")
    assert again.code == 1 and "already cancelled" in again.err


async def test_create_asks_on_a_terminal(fake: FakeTokenFactory) -> None:
    args = create_args(fake, "--epochs", "2")
    code, shown = await on_terminal(fake.url, fake.api_key, args, b"n")
    assert code == 1 and "not created" in shown
    assert '"hyperparameters":{"n_epochs":2}' in shown and "Create this fine-tuning job?" in shown
    assert fake.jobs == {} and CREATE not in fake.requests

    code, shown = await on_terminal(fake.url, fake.api_key, args, b"y")
    assert code == 0, shown
    (job,) = fake.jobs.values()
    assert f"created {job.id}" in shown and job.request["hyperparameters"]["n_epochs"] == 2


async def test_cancel_asks_on_a_terminal(fake: FakeTokenFactory) -> None:
    job_id = fake.add_job(running_steps=50)
    code, shown = await on_terminal(fake.url, fake.api_key, ["jobs", "cancel", job_id], b"no")
    assert code == 1 and "not cancelled" in shown and fake.jobs[job_id].cancelled_at is None
    code, shown = await on_terminal(fake.url, fake.api_key, ["jobs", "cancel", job_id], b"y")
    assert code == 0 and f"{job_id} cancelled" in shown, shown


async def test_create_and_wait_exits_1_when_the_job_fails(serve_answer: ServeAnswer) -> None:
    job = {"id": "ftjob-1", "created_at": 1, "model": "m", "training_file": "f"}
    failure = {"code": "bad_data", "message": "the data could not be read"}

    async def answer(request: web.Request) -> web.Response:
        if (request.method, request.path) == ("POST", CREATE):
            return web.json_response(job | {"status": "queued"})
        assert (request.method, request.path) == ("GET", CREATE + "/ftjob-1")
        return web.json_response(job | {"status": "failed", "error": failure})

    url = await serve_answer(answer)
    args = ["jobs", "create", "--model", "m", "--training-file", "f", "--yes", "--wait"]
    waited = await nebius_ft(*args, "--interval", "0.01", url=url, key="k")
    assert waited.code == 1, waited.err
    assert "the data could not be read" in waited.out

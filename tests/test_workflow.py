"""Creating, listing and cancelling jobs and operations on a ``MockTransport``; files up and
down through ``FakeTokenFactory``, and broken or slow transfers on a local server."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import msgspec
import pytest
from aiohttp import web

from nebius_ft_async import (
    APIConnectionError,
    APITimeoutError,
    AsyncSession,
    BadRequestError,
    FineTuningJob,
    HfCheckpoint,
    HfExportIntegration,
    HfExportSettings,
    InternalServerError,
    MlflowIntegration,
    MlflowSettings,
    OperationStatus,
    RetryPolicy,
    SpecDraftConfig,
    SpecDraftMethod,
    SupervisedConfig,
    SupervisedHyperparameters,
    SupervisedMethod,
    UnprocessableEntityError,
    WaitTimeout,
    WandbIntegration,
    WandbSettings,
    WireRequest,
    WireResponse,
    wait_for_operation,
)
from nebius_ft_async.testing import FakeTokenFactory

from .conftest import API_KEY, Handler, RecordedSleeps, ServeAnswer, json_response
from .mocks import LOOPBACK, Paths, listed, mock_session, status
from .samples import job_body

pytestmark = pytest.mark.anyio

Serve = Callable[[web.Application], Awaitable[str]]
JOBS = "/v1/fine_tuning/jobs"


class Creates:
    """The API's answer to a create: the job made of the body (kept in ``created``), or a 422
    for the model ``no-such-model``."""

    def __init__(self) -> None:
        self.created: list[dict[str, Any]] = []

    def __call__(self, request: WireRequest) -> WireResponse:
        assert isinstance(request.body, bytes)
        body = msgspec.json.decode(request.body)
        if body.get("model") == "no-such-model":
            problem = {"loc": ["body", "model"], "msg": "unknown model", "type": "value_error"}
            return WireResponse.of(422, json={"detail": [problem]})
        self.created.append(body)
        job_id = f"ftjob-new-{len(self.created)}"
        job = job_body(job_id, status="validating_files", model=body["model"])
        return WireResponse.of(json=job | {"training_file": body["training_file"]})


@pytest.fixture
def creates(paths: Paths) -> Creates:
    creates = Creates()
    paths.script(JOBS, creates)
    return creates


# -- jobs --------------------------------------------------------------------------------


async def test_create_job_sends_typed_body_without_unset_fields(
    creates: Creates, paths: Paths, session: AsyncSession
) -> None:
    job = await session.create_job(
        model="meta-llama/Llama-3.1-8B-Instruct",
        training_file="file-train",
        method=SupervisedMethod(
            supervised=SupervisedConfig(
                hyperparameters=SupervisedHyperparameters(n_epochs=2, lora=True)
            )
        ),
        integrations=[
            WandbIntegration(wandb=WandbSettings(project="ft", api_key="wandb-secret")),
            MlflowIntegration(
                mlflow=MlflowSettings(
                    tracking_uri="https://ml", username="me", password="pw", certificate_file="ca"
                )
            ),
            HfExportIntegration(hf=HfExportSettings(output_repo_name="me/m", api_token="hf-tok")),
        ],
        from_checkpoint=HfCheckpoint(repo="me/base"),
        suffix="support-bot",
        seed=7,
    )
    assert isinstance(job, FineTuningJob) and job.status == "validating_files"
    body = creates.created[0]
    assert set(body) == {
        "model",
        "training_file",
        "method",
        "integrations",
        "from_checkpoint",
        "suffix",
        "seed",
    }
    assert body["method"]["type"] == "supervised"
    assert body["method"]["supervised"]["hyperparameters"] == {"n_epochs": 2, "lora": True}
    assert [i["type"] for i in body["integrations"]] == ["wandb", "mlflow", "hf"]
    assert body["integrations"][0]["wandb"] == {"project": "ft", "api_key": "wandb-secret"}
    assert body["from_checkpoint"] == {"type": "hf", "repo": "me/base"}
    assert paths.seen[-1].all_headers["Content-Type"] == "application/json"


async def test_spec_draft_method_and_plain_dicts(creates: Creates, session: AsyncSession) -> None:
    await session.create_job(
        model="m", training_file="f", method=SpecDraftMethod(spec_draft=SpecDraftConfig())
    )
    await session.create_job(
        model="m",
        training_file="f",
        method={"type": "dpo", "dpo": {"beta": 0.1}},
        integrations=[{"type": "comet", "comet": {"project": "x"}}],
        extra_body={"priority": "low"},
    )
    assert creates.created[0]["method"]["type"] == "spec-draft"
    assert creates.created[0]["method"] == {
        "type": "spec-draft",
        "spec_draft": {"hyperparameters": {}},
    }
    assert creates.created[1]["method"] == {"type": "dpo", "dpo": {"beta": 0.1}}
    assert creates.created[1]["extra_body"] == {"priority": "low"}


def test_secrets_never_show_in_request_reprs() -> None:
    shown = repr(
        [
            WandbIntegration(wandb=WandbSettings(project="ft", api_key="wandb-secret")),
            MlflowSettings(tracking_uri="u", password="mlflow-secret"),
            HfExportSettings(output_repo_name="r", api_token="hf-secret"),
            HfCheckpoint(repo="r", token="hub-secret"),
        ]
    )
    assert "secret" not in shown
    assert "project='ft'" in shown and "api_key='***'" in shown


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"model": "", "training_file": "f"}, "model is required"),
        ({"model": "m", "training_file": "  "}, "training_file is required"),
        ({"model": "m", "training_file": "f", "suffix": "x" * 65}, "at most 64"),
    ],
)
async def test_obviously_wrong_create_is_refused_before_sending(
    paths: Paths, session: AsyncSession, options: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        await session.create_job(**options)
    assert paths.seen == []


async def test_server_validation_error_names_the_field(
    creates: Creates, session: AsyncSession
) -> None:
    with pytest.raises(UnprocessableEntityError) as caught:
        await session.create_job(model="no-such-model", training_file="f")
    assert caught.value.errors[0].loc == ["body", "model"]
    assert "body.model: unknown model" in str(caught.value)


async def test_create_is_not_retried_after_the_body_was_sent(
    creates: Creates, paths: Paths, session: AsyncSession
) -> None:
    paths.script(JOBS, 500, 500, creates)
    with pytest.raises(InternalServerError) as caught:
        await session.create_job(model="m", training_file="f")
    assert caught.value.attempts == 1
    assert len(paths.seen) == 1
    assert creates.created == []


async def test_create_is_retried_after_a_429(
    creates: Creates, paths: Paths, session: AsyncSession, sleeps: Any
) -> None:
    paths.script(JOBS, status(429, {"retry-after-ms": "2000"}), creates)
    job = await session.create_job(model="m", training_file="f")
    assert job.id == "ftjob-new-1"
    assert len(paths.seen) == 2 and len(creates.created) == 1
    assert sleeps.waits and sleeps.waits[0] >= 2.0  # waited out in the session's budget


async def test_create_retried_when_the_connection_failed_before_sending() -> None:
    from nebius_ft_async import RetryPolicy

    dead = "http://127.0.0.1:1"  # nothing listens on port 1
    waits: list[float] = []

    async def record(seconds: float) -> None:
        waits.append(seconds)

    policy = RetryPolicy(max_retries=2, sleep=record)
    async with AsyncSession(API_KEY, base_url=dead, retry_policy=policy) as session:
        with pytest.raises(APIConnectionError) as caught:
            await session.create_job(model="m", training_file="f")
    assert caught.value.request_sent is False
    assert caught.value.attempts == 3 and len(waits) == 2


async def test_list_and_iter_jobs_across_pages(paths: Paths, session: AsyncSession) -> None:
    newest_first = [job_body(f"job-{index:02d}") for index in reversed(range(45))]
    paths.script(JOBS, listed(newest_first, 20, cursors=False))
    page = await session.list_jobs(limit=10)
    assert [job.id for job in page.data] == [f"job-{i:02d}" for i in range(44, 34, -1)]
    assert page.has_more
    ids = [job.id async for job in session.iter_jobs(page_size=20)]
    assert ids == [f"job-{i:02d}" for i in range(44, -1, -1)]
    afters = [request.url.query.get("after") for request in paths.seen[1:]]
    assert afters == [None, "job-25", "job-05"]


async def test_cancel_job_and_cancel_of_a_finished_job(paths: Paths, session: AsyncSession) -> None:
    paths.script(f"{JOBS}/live/cancel", job_body("live", status="cancelled"))
    finished = {"detail": "Cannot cancel a job with status succeeded"}
    paths.script(f"{JOBS}/done/cancel", WireResponse.of(400, json=finished))
    assert (await session.cancel_job("live")).status == "cancelled"
    with pytest.raises(BadRequestError, match="Cannot cancel a job with status succeeded"):
        await session.cancel_job("done")
    assert [(request.method, request.url.path) for request in paths.seen] == [
        ("POST", "/v1/fine_tuning/jobs/live/cancel"),
        ("POST", "/v1/fine_tuning/jobs/done/cancel"),
    ]


# -- files -------------------------------------------------------------------------------


async def test_upload_streams_a_large_file_intact(
    fake: FakeTokenFactory, fake_session: AsyncSession, tmp_path: Path
) -> None:
    source = tmp_path / "train.jsonl"
    content = os.urandom(5 * 1024 * 1024 + 123)  # many of aiohttp's 64 KiB chunks
    source.write_bytes(content)
    uploaded = await fake_session.upload_file(source)
    assert uploaded.filename == "train.jsonl"
    assert uploaded.purpose == "fine-tune"
    assert uploaded.bytes == len(content)
    received = fake.file_contents[uploaded.id]
    assert hashlib.sha256(received).digest() == hashlib.sha256(content).digest()


async def test_upload_bytes_and_list_get_content(fake_session: AsyncSession) -> None:
    line = b'{"messages": [{"role": "user", "content": "hi"}]}\n'
    uploaded = await fake_session.upload_file(line * 3, filename="small.jsonl", purpose="batch")
    assert (await fake_session.get_file(uploaded.id)).filename == "small.jsonl"
    assert [f.id for f in (await fake_session.list_files(purpose="batch")).data] == [uploaded.id]
    assert (await fake_session.list_files(purpose="fine-tune")).data == []
    assert await fake_session.file_content(uploaded.id) == line * 3


async def test_upload_of_a_missing_file_is_a_clear_error(
    fake: FakeTokenFactory, fake_session: AsyncSession, tmp_path: Path
) -> None:
    with pytest.raises(FileNotFoundError, match="no file to upload"):
        await fake_session.upload_file(tmp_path / "nope.jsonl")
    assert fake.requests == {}


async def test_upload_is_not_retried_after_sending(
    fake: FakeTokenFactory, fake_session: AsyncSession
) -> None:
    fake.fail_next(503)
    with pytest.raises(InternalServerError, match="injected 503"):
        await fake_session.upload_file(b"x", filename="x.jsonl")
    assert fake.requests == {"/v1/files": 1} and fake.files == {}


async def test_download_file_streams_to_disk(
    fake: FakeTokenFactory, fake_session: AsyncSession, tmp_path: Path
) -> None:
    fake.files["file-1"] = {"id": "file-1", "filename": "weights.bin", "bytes": 0}
    fake.file_contents["file-1"] = os.urandom(3 * 1024 * 1024)
    target = await fake_session.download_file("file-1", tmp_path / "out.bin")
    assert target.read_bytes() == fake.file_contents["file-1"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.bin"]


async def test_download_files_keeps_the_api_names(
    fake: FakeTokenFactory, fake_session: AsyncSession, tmp_path: Path
) -> None:
    fake.files["f1"] = {"id": "f1", "filename": "adapter.safetensors"}
    fake.files["f2"] = {"id": "f2", "filename": "../escape.txt"}
    fake.files["f3"] = {"id": "f3", "filename": "adapter.safetensors"}
    fake.files["f4"] = {"id": "f4", "filename": "nul\u0000byte"}
    fake.files["f5"] = {"id": "f5", "filename": "x" * 300}
    ids = ["f1", "f2", "f3", "f4", "f5"]
    for file_id in ids:
        fake.file_contents[file_id] = file_id.encode()
    paths = await fake_session.download_files(ids, tmp_path / "ckpt")
    assert [p.name for p in paths] == ["adapter.safetensors", "f2", "f3", "f4", "f5"]
    assert [p.read_bytes() for p in paths] == [i.encode() for i in ids]


async def broken_mid_way(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse()
    response.content_length = 1_000_000
    await response.prepare(request)
    await response.write(b"x" * 300_000)
    assert request.transport is not None
    request.transport.close()
    return response


async def short_body(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse()
    response.content_length = 500
    await response.prepare(request)
    await response.write(b"y" * 100)
    await response.write_eof()
    assert request.transport is not None
    request.transport.close()
    return response


class ContentAfterFaults:
    """A local server's answer to a download: ``faults`` one a request, then ``content``."""

    def __init__(self, content: bytes, *faults: Handler) -> None:
        self.content = content
        self.faults = list(faults)
        self.requests = 0

    async def __call__(self, request: web.Request) -> web.StreamResponse:
        self.requests += 1
        if self.faults:
            return await self.faults.pop(0)(request)
        return web.Response(body=self.content, content_type="application/octet-stream")


async def socket_session(serve_answer: ServeAnswer, answer: ContentAfterFaults) -> AsyncSession:
    """A session to a local server that ``answer`` answers, its retries not sleeping."""
    url = await serve_answer(answer)
    return AsyncSession(API_KEY, base_url=url, retry_policy=RetryPolicy(sleep=RecordedSleeps()))


@pytest.mark.parametrize("fault", [broken_mid_way, short_body])
async def test_interrupted_download_leaves_no_file(
    serve_answer: ServeAnswer, tmp_path: Path, fault: Any
) -> None:
    target = tmp_path / "model.bin"
    answer = ContentAfterFaults(b"never sent", fault, fault, fault)
    async with await socket_session(serve_answer, answer) as session:
        with pytest.raises(APIConnectionError):
            await session.download_file("file-1", target)
    assert list(tmp_path.iterdir()) == []
    assert answer.requests == 3  # a GET download is retried from scratch


async def test_download_retry_restarts_the_file(serve_answer: ServeAnswer, tmp_path: Path) -> None:
    answer = ContentAfterFaults(b"z" * 400_000, broken_mid_way)
    async with await socket_session(serve_answer, answer) as session:
        target = await session.download_file("file-1", tmp_path / "model.bin")
    assert target.read_bytes() == b"z" * 400_000
    assert answer.requests == 2


async def test_download_of_a_missing_file_is_not_found(
    fake: FakeTokenFactory, fake_session: AsyncSession, tmp_path: Path
) -> None:
    from nebius_ft_async import NotFoundError

    with pytest.raises(NotFoundError, match="File nope not found"):
        await fake_session.download_file("nope", tmp_path / "x")
    assert list(tmp_path.iterdir()) == []
    assert fake.storage_requests == 0


# -- operations --------------------------------------------------------------------------


def operation(op_id: str, state: str, **extra: Any) -> dict[str, Any]:
    return {"id": op_id, "type": "finetuning", "status": state, "src": [], "dst": [], **extra}


async def test_operation_get_list_and_errors(paths: Paths, session: AsyncSession) -> None:
    failed = operation("op-1", "failed", created_at=5, future_field=1)
    new_state = operation("op-2", "brand_new_state", type="distillation")
    paths.script("/v1/operations/op-1", failed)
    paths.script("/v1/operations", {"object": "list", "data": [failed, new_state]})
    errors = {"object": "list", "data": ["row 3: missing messages"]}
    paths.script("/v1/operations/op-1/errors", errors)
    op = await session.get_operation("op-1")
    assert op.status is OperationStatus.FAILED and op.is_terminal and op.created_at == 5
    listed = await session.list_operations(limit=10)
    assert [o.id for o in listed.data] == ["op-1", "op-2"]
    assert listed.data[1].status == "brand_new_state" and not listed.data[1].is_terminal
    assert listed.data[1].type == "distillation"
    assert await session.get_operation_errors("op-1") == ["row 3: missing messages"]
    assert dict(paths.seen[1].url.query) == {"limit": "10"}


async def test_wait_for_operation_through_unknown(paths: Paths, session: AsyncSession) -> None:
    states = ("queued", "unknown", "running", "succeeded")
    paths.script("/v1/operations/op-1", *(operation("op-1", state) for state in states))
    paths.script("/v1/operations/op-1/results", {"file_id": "file-out"})
    seen: list[str] = []
    op = await session.wait_for_operation(
        "op-1", poll_interval=0.001, on_update=lambda o: seen.append(o.status)
    )
    assert op.status == "succeeded"
    assert seen == ["queued", "unknown", "running", "succeeded"]
    result = await session.get_operation_results(op.id)
    assert msgspec.to_builtins(result) == {"file_id": "file-out"}


async def test_wait_for_operation_timeout(paths: Paths, session: AsyncSession) -> None:
    paths.script("/v1/operations/op-1", operation("op-1", "running"))
    with pytest.raises(WaitTimeout) as caught:
        await wait_for_operation(session, "op-1", poll_interval=0.01, timeout=0.05)
    assert caught.value.operation is not None and caught.value.operation.status == "running"
    assert caught.value.job_id == "op-1"


async def test_wait_for_operation_rate_limited_keeps_waiting(paths: Paths) -> None:
    paths.script(
        "/v1/operations/op-1",
        status(429, {"retry-after-ms": "1"}),
        operation("op-1", "running"),
        operation("op-1", "cancelled"),
    )
    async with mock_session(paths, base_url=LOOPBACK, max_retries=0) as session:
        op = await wait_for_operation(session, "op-1", poll_interval=0.001)
    assert op.status == "cancelled"
    assert len(paths.seen) == 3


async def test_long_transfers_are_bounded_by_silence_not_by_the_session_timeout(
    serve: Serve, tmp_path: Path
) -> None:
    import asyncio

    async def trickle(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        response.content_length = 20 * 1000
        await response.prepare(request)
        for _ in range(20):  # two seconds in all, never silent for long
            await asyncio.sleep(0.1)
            await response.write(b"d" * 1000)
        return response

    async def slow_reader(request: web.Request) -> web.Response:
        received = 0
        async for part in await request.multipart():
            while chunk := await part.read_chunk(64 * 1024):  # type: ignore[union-attr]
                received += len(chunk) if part.name == "file" else 0
                await asyncio.sleep(0.002)  # 64 MiB take about two seconds to arrive
        return json_response({"id": "file-1", "bytes": received, "filename": "big.jsonl"})

    app = web.Application()
    app.router.add_get("/v1/files/{file_id}/content", trickle)
    app.router.add_post("/v1/files", slow_reader)
    url = await serve(app)
    big = tmp_path / "big.jsonl"
    big.write_bytes(b"u" * (64 * 1024 * 1024))
    # silence allowed: 1 s, ten times the gaps above (a busy machine stretches them)
    async with AsyncSession(API_KEY, base_url=url, timeout=1.0, max_retries=0) as session:
        target = await session.download_file("file-1", tmp_path / "slow.bin")
        uploaded = await session.upload_file(big)
        with pytest.raises(APITimeoutError, match="deadline"):
            await session.download_file("file-1", tmp_path / "late.bin", timeout=0.3)
    assert target.read_bytes() == b"d" * 20_000
    assert uploaded.bytes == 64 * 1024 * 1024
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.jsonl", "slow.bin"]


async def test_download_to_a_missing_folder_fails_before_sending(
    fake: FakeTokenFactory, fake_session: AsyncSession, tmp_path: Path
) -> None:
    with pytest.raises(FileNotFoundError, match=r"cannot download to .*nowhere"):
        await fake_session.download_file("file-1", tmp_path / "nowhere" / "x.bin")
    with pytest.raises(IsADirectoryError, match=r"cannot download to .*: it is a directory"):
        await fake_session.download_file("file-1", tmp_path)
    assert fake.requests == {}

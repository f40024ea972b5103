"""AsyncSession's calls, decoding and errors, on a ``MockTransport``; what is the aiohttp
transport's own (an unclosed client) on a local server."""

from __future__ import annotations

import gc
from urllib.parse import unquote

import msgspec
import pytest
from aiohttp import web

import nebius_ft_async
from nebius_ft_async import (
    APIConnectionError,
    AsyncSession,
    AuthenticationError,
    ConfigurationError,
    DatasetFileResult,
    EventLevel,
    FineTuningCheckpoint,
    FineTuningJob,
    JobStatus,
    MockTransport,
    NebiusError,
    NotFoundError,
    Page,
    WireRequest,
    WireResponse,
)

from .conftest import API_KEY, ServeAnswer, json_response
from .mocks import LOOPBACK, Paths, listed, mock_session
from .samples import checkpoint_body, event_body, job_body

pytestmark = pytest.mark.anyio

EVENTS = "/v1/fine_tuning/jobs/j1/events"
CHECKPOINTS = "/v1/fine_tuning/jobs/j1/checkpoints"


def checks_the_key(request: WireRequest) -> WireResponse:
    """The API's answer to a job's GET: 401 unless the tests' key is sent."""
    if request.all_headers.get("Authorization") != f"Bearer {API_KEY}":
        return WireResponse.of(401, json={"detail": "Invalid API key"})
    return WireResponse.of(json=job_body(request.url.path.rsplit("/", 1)[1]))


async def test_get_job_decodes_full_job_and_sends_bearer_key(
    paths: Paths, session: AsyncSession
) -> None:
    paths.job("ftjob-abc123", job_body())
    job = await session.get_job("ftjob-abc123")
    assert isinstance(job, FineTuningJob)
    assert job.id == "ftjob-abc123"
    assert job.status is JobStatus.RUNNING
    assert job.hyperparameters is not None and job.hyperparameters.lora_r == 16
    assert job.method is not None and job.method.supervised is not None
    assert [integration.type for integration in job.integrations or []] == ["wandb", "mlflow", "hf"]
    assert paths.seen[-1].all_headers["Authorization"] == f"Bearer {API_KEY}"
    assert paths.seen[-1].url.path == "/v1/fine_tuning/jobs/ftjob-abc123"


async def test_unknown_status_and_fields_decode(paths: Paths, session: AsyncSession) -> None:
    paths.job("j1", job_body("j1", status="paused_for_review", brand_new_field={"x": 1}))
    job = await session.get_job("j1")
    assert job.status == "paused_for_review"
    assert not job.is_terminal
    assert msgspec.to_builtins(job)["status"] == "paused_for_review"


async def test_job_converts_to_plain_json_in_one_call(paths: Paths, session: AsyncSession) -> None:
    paths.job("j1", job_body("j1", status="succeeded"))
    job = await session.get_job("j1")
    plain = msgspec.to_builtins(job)
    assert plain["status"] == "succeeded"
    assert plain["integrations"][0] == {
        "type": "wandb",
        "wandb": {"project": "ft", "name": "run-1", "entity": None, "tags": ["a"]},
        "mlflow": None,
        "hf": None,
    }
    assert msgspec.json.decode(msgspec.json.encode(plain), type=FineTuningJob) == job


async def test_list_events_one_page(paths: Paths, session: AsyncSession) -> None:
    paths.script(EVENTS, listed([event_body(i, "j1") for i in range(30)], 20, cursors=False))
    page = await session.list_events("j1", limit=10, after="ftevent-00004")
    assert [event.id for event in page.data] == [f"ftevent-{i:05d}" for i in range(5, 15)]
    assert page.has_more is True
    # the events list carries no cursors: they come from the items
    assert (page.first_id, page.last_id) == ("ftevent-00005", "ftevent-00014")
    assert page.data[0].level is EventLevel.INFO
    assert page.data[0].data["train_loss"] == pytest.approx(1 / 6)
    assert dict(paths.seen[-1].url.query) == {"limit": "10", "after": "ftevent-00004"}


async def test_iter_events_walks_every_page(paths: Paths, session: AsyncSession) -> None:
    paths.script(EVENTS, listed([event_body(i, "j1") for i in range(250)], 20, cursors=False))
    ids = [event.id async for event in session.iter_events("j1", page_size=40)]
    assert ids == [f"ftevent-{i:05d}" for i in range(250)]
    assert len(paths.seen) == 7  # ceil(250 / 40)
    assert dict(paths.seen[1].url.query) == {"limit": "40", "after": "ftevent-00039"}


async def test_iter_events_total_limit(paths: Paths, session: AsyncSession) -> None:
    paths.script(EVENTS, listed([event_body(i, "j1") for i in range(250)], 20, cursors=False))
    events = [event async for event in session.iter_events("j1", page_size=100, limit=130)]
    assert len(events) == 130
    assert [request.url.query["limit"] for request in paths.seen] == ["100", "30"]


async def test_list_and_iter_checkpoints(paths: Paths, session: AsyncSession) -> None:
    paths.script(CHECKPOINTS, listed([checkpoint_body(i, "j1") for i in range(25)], 10))
    page = await session.list_checkpoints("j1")
    assert len(page.data) == 10  # the server's default page
    assert page.has_more and page.last_id == "ftckpt-00009"
    assert page.data[3].metrics.train_loss == 0.5
    steps = [checkpoint.step_number async for checkpoint in session.iter_checkpoints("j1")]
    assert steps == [i * 10 for i in range(25)]


async def test_get_checkpoint(paths: Paths, session: AsyncSession) -> None:
    paths.script(f"{CHECKPOINTS}/ftckpt-00002", checkpoint_body(2, "j1"))
    not_found = WireResponse.of(404, json={"detail": "Checkpoint not found"})
    paths.script(f"{CHECKPOINTS}/ftckpt-99999", not_found)
    checkpoint = await session.get_checkpoint("j1", "ftckpt-00002")
    assert checkpoint.step_number == 20
    assert checkpoint.fine_tuning_job_id == "j1"
    with pytest.raises(NotFoundError) as caught:
        await session.get_checkpoint("j1", "ftckpt-99999")
    assert caught.value.status_code == 404
    assert "Checkpoint not found" in str(caught.value)


async def test_operation_results_fine_tuning(paths: Paths, session: AsyncSession) -> None:
    paths.script(
        "/v1/operations/op-ft/results", listed([checkpoint_body(i) for i in range(15)], 10)
    )
    result = await session.get_operation_results("op-ft", limit=5)
    assert isinstance(result, Page)
    assert isinstance(result.data[0], FineTuningCheckpoint)
    assert result.data[0].result_files == ["file-ckpt-0"]
    assert result.has_more
    all_ids = [checkpoint.id async for checkpoint in session.iter_operation_results("op-ft")]
    assert all_ids == [f"ftckpt-{i:05d}" for i in range(15)]


async def test_operation_results_dataset_to_file(paths: Paths, session: AsyncSession) -> None:
    paths.script("/v1/operations/op-ds/results", {"file_id": "file-out-1", "extra": True})
    result = await session.get_operation_results("op-ds")
    assert result == DatasetFileResult(file_id="file-out-1")
    with pytest.raises(ValueError, match="file-out-1"):
        [checkpoint async for checkpoint in session.iter_operation_results("op-ds")]


async def test_empty_page_with_has_more_ends_iteration() -> None:
    empty = WireResponse.of(json={"object": "list", "data": [], "has_more": True})
    transport = MockTransport(lambda request: empty)
    async with mock_session(transport) as session:
        assert [event async for event in session.iter_events("j1")] == []
    assert [r.url.path for r in transport.requests] == ["/v1/fine_tuning/jobs/j1/events"]


async def test_cursor_that_does_not_advance_ends_iteration() -> None:
    same = WireResponse.of(json={"data": [event_body(1), event_body(2)], "has_more": True})
    transport = MockTransport(lambda request: same)
    async with mock_session(transport) as session:
        events_seen = [event.id async for event in session.iter_events("j1")]
    assert events_seen == ["ftevent-00001", "ftevent-00002"]  # each item once
    # a page of nothing new is asked for once more, then the walk ends
    assert len(transport.requests) == 3


async def test_ids_are_escaped_into_one_path_segment() -> None:
    def not_found(request: WireRequest) -> WireResponse:
        *route, job_id = request.url.raw_path.split("/")
        if route != ["", "v1", "fine_tuning", "jobs"]:  # the id spilled out of its segment
            return WireResponse.of(400, json={"detail": "no such route"})
        return WireResponse.of(404, json={"detail": f"Job {unquote(job_id)} not found"})

    transport = MockTransport(not_found)
    async with mock_session(transport) as session:
        for job_id in ("a/b", "x?y=1", "h#frag", "..", "sp ace"):
            with pytest.raises(NotFoundError) as caught:
                await session.get_job(job_id)
            assert f"Job {job_id} not found" in str(caught.value)  # the whole id, one segment
        with pytest.raises(ValueError, match="job_id"):
            await session.get_job("")
    assert [request.url.path for request in transport.requests] == [
        "/v1/fine_tuning/jobs/a/b",
        "/v1/fine_tuning/jobs/x?y=1",
        "/v1/fine_tuning/jobs/h#frag",
        "/v1/fine_tuning/jobs/..",
        "/v1/fine_tuning/jobs/sp ace",
    ]
    assert all(request.url.query == {} for request in transport.requests)


async def test_wrong_key_is_authentication_error_without_the_key() -> None:
    secret = "sk-wrong-9a8b7c6d5e4f"
    async with AsyncSession(secret, transport=MockTransport(checks_the_key)) as session:
        with pytest.raises(AuthenticationError) as caught:
            await session.get_job("j1")
    error = caught.value
    assert error.status_code == 401
    assert "Invalid API key" in str(error)
    assert secret not in str(error) and secret not in repr(error)
    assert secret not in repr(session)


async def test_missing_key_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NEBIUS_API_KEY", raising=False)
    with pytest.raises(ConfigurationError, match="NEBIUS_API_KEY"):
        AsyncSession()


async def test_key_and_base_url_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEBIUS_API_KEY", API_KEY)
    monkeypatch.setenv("NEBIUS_BASE_URL", LOOPBACK + "/v1/")
    transport = MockTransport(checks_the_key)
    async with AsyncSession(transport=transport) as session:
        assert session.base_url == LOOPBACK
        assert (await session.get_job("j1")).id == "j1"
    assert str(transport.requests[0].url) == f"{LOOPBACK}/v1/fine_tuning/jobs/j1"


async def test_session_without_async_with_and_after_close() -> None:
    session = AsyncSession(API_KEY, transport=MockTransport(checks_the_key))
    assert (await session.get_job("j1")).id == "j1"
    await session.close()
    assert session.closed
    with pytest.raises(NebiusError, match="closed"):
        await session.get_job("j1")


async def test_unclosed_session_warns(serve_answer: ServeAnswer) -> None:
    async def job(request: web.Request) -> web.Response:
        return json_response(job_body("j1"))

    session = AsyncSession(API_KEY, base_url=await serve_answer(job))
    await session.get_job("j1")
    client = session._transport._client
    with pytest.warns(ResourceWarning, match="Unclosed <AsyncSession"):
        session.__del__()
    assert client is not None
    await client.close()
    del session
    gc.collect()


async def test_connection_refused_is_connection_error() -> None:
    server_gone = "http://127.0.0.1:1"  # nothing listens on port 1
    async with AsyncSession(API_KEY, base_url=server_gone, max_retries=0) as session:
        with pytest.raises(APIConnectionError) as caught:
            await session.get_job("j1")
    assert "GET /v1/fine_tuning/jobs/j1" in str(caught.value)
    assert caught.value.__cause__ is None and caught.value.__context__ is None


@pytest.mark.parametrize(
    ("status", "error_class"),
    [
        (400, "BadRequestError"),
        (401, "AuthenticationError"),
        (403, "PermissionDeniedError"),
        (404, "NotFoundError"),
        (409, "ConflictError"),
        (422, "UnprocessableEntityError"),
        (429, "RateLimitError"),
        (500, "InternalServerError"),
        (503, "InternalServerError"),
        (418, "APIStatusError"),
    ],
)
async def test_every_error_status_maps_to_its_class(
    paths: Paths, session: AsyncSession, status: int, error_class: str
) -> None:
    body = {"detail": f"scripted {status}"}
    if status == 422:
        body = {"detail": [{"loc": ["query", "limit"], "msg": "too big", "type": "value_error"}]}

    paths.job("j1", WireResponse.of(status, json=body, headers={"x-request-id": "req-77"}))
    with pytest.raises(nebius_ft_async.APIStatusError) as caught:
        await session.get_job("j1", max_retries=0)
    error = caught.value
    assert type(error) is getattr(nebius_ft_async, error_class)
    assert error.status_code == status
    assert error.request_id == "req-77"
    assert f"HTTP {status}" in str(error) and "req-77" in str(error)
    if status == 422:
        assert isinstance(error, nebius_ft_async.UnprocessableEntityError)
        assert error.errors[0].loc == ["query", "limit"]
        assert "query.limit: too big" in str(error)
    else:
        assert f"scripted {status}" in str(error)


@pytest.mark.parametrize(
    ("body", "content_type", "problem"),
    [
        (b"<html><body>Bad gateway</body></html>", "text/html", "Bad gateway"),
        (b"", "application/json", "<empty body>"),
        (b'{"id": "j1", "created_at": 1', "application/json", "truncated"),
        (b'{"id": 5}', "application/json", "Expected `str`"),
    ],
)
async def test_unexpected_body_is_response_decode_error(
    paths: Paths, session: AsyncSession, body: bytes, content_type: str, problem: str
) -> None:
    headers = {"Content-Type": content_type, "x-request-id": "r1"}
    paths.job("j1", WireResponse.of(body=body, headers=headers))
    with pytest.raises(nebius_ft_async.ResponseDecodeError) as caught:
        await session.get_job("j1")
    error = caught.value
    assert error.status_code == 200
    assert error.content_type == content_type
    assert error.request_id == "r1"
    assert problem in str(error)
    assert error.__cause__ is None
    assert len(paths.seen) == 1  # a bad body is not retried


@pytest.mark.parametrize("key", ["sk-abc\nX-Injected: 1", "sk-\x00", "sk-ключ"])
def test_key_a_header_cannot_carry_is_refused(key: str) -> None:
    with pytest.raises(ConfigurationError, match="API key") as caught:
        AsyncSession(key)
    assert key not in str(caught.value)

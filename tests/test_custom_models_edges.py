"""Custom models and file waits at their edges, against small local servers: the path a
name addresses, escaping, what a create sends, lenient decoding, and the wait rules
(error with its reason, deadline, on_update, transient failures, cancellation)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

import pytest
from aiohttp import BodyPartReader, web
from hypothesis import given
from hypothesis import strategies as st

from nebius_ft_async import (
    AsyncSession,
    FileProcessingError,
    InternalServerError,
    JobWaitError,
    ModelDeploymentError,
    NotFoundError,
    RetryPolicy,
    WaitTimeout,
    wait_for_file,
    wait_for_model,
)
from nebius_ft_async._custom_models import model_path

from .conftest import API_KEY, RecordedSleeps, forever, json_response, wait_until

pytestmark = pytest.mark.anyio

TICK = 0.001
FULL = "meta-llama/Meta-Llama-3.1-8B-Instruct-LoRa:my-finetuned-model-JuNN"
FULL_PATH = "/v0/models/meta-llama/Meta-Llama-3.1-8B-Instruct-LoRa%3Amy-finetuned-model-JuNN"

Answer = dict[str, Any] | list[Any] | int | str
"""A scripted answer: a JSON body, an error status, or ``"hang"`` (never answer)."""


def model(name: str = FULL, status: str = "validating", **extra: Any) -> dict[str, Any]:
    """A model body as the API documents it, with fields the client does not model."""
    return {
        "type": "text2text",
        "name": name,
        "status": status,
        "status_reason": None,
        "checkpoint_id": "ftckpt_98a07a09",
        "job_id": "ftjob-49b4625687fe42d1",
        "file_id": None,
        "url": None,
        "created_at": 1765431401,
        "description": "Fine tuned model",
        "vendor": "meta",
        "tags": ["128K context", "lora"],
        "use_cases": ["lora"],
        "quality": 73,
        "context_window_k": 128,
        "size_b": 8.03,
        "flavors": [{"model_id": "x", "limits": {"requests_per_minute": 123}}],
        "license": {"url": "https://example.com", "type": "open", "name": "llama3.1"},
        **extra,
    }


@dataclass
class Seen:
    method: str
    raw_path: str
    body: bytes


@dataclass
class ModelsApi:
    """Answers every request from a script per (method, raw path); the last answer repeats."""

    scripts: dict[tuple[str, str], list[Answer]] = field(default_factory=dict)
    seen: list[Seen] = field(default_factory=list)
    parts: list[tuple[str | None, str | None, bytes]] = field(default_factory=list)

    def script(self, method: str, raw_path: str, *answers: Answer) -> None:
        self.scripts[method, raw_path] = list(answers)

    def count(self, method: str, raw_path: str) -> int:
        return sum(1 for s in self.seen if (s.method, s.raw_path) == (method, raw_path))

    async def handle(self, request: web.Request) -> web.StreamResponse:
        assert request.headers["Authorization"] == f"Bearer {API_KEY}"
        if request.content_type == "multipart/form-data":
            async for part in await request.multipart():
                assert isinstance(part, BodyPartReader)
                self.parts.append((part.name, part.filename, await part.read()))
            body = b""
        else:
            body = await request.read()
        self.seen.append(Seen(request.method, request.raw_path, body))
        script = self.scripts.get((request.method, request.raw_path))
        if not script:
            return json_response({"detail": "Not Found"}, status=404)
        answer = script.pop(0) if len(script) > 1 else script[0]
        if answer == "hang":
            await forever()
        if isinstance(answer, int):
            return json_response({"detail": f"scripted {answer}"}, status=answer)
        return json_response(answer)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self.handle)
        return app


@pytest.fixture
def api() -> ModelsApi:
    return ModelsApi()


@pytest.fixture
async def session(
    api: ModelsApi, serve: Callable[[web.Application], Awaitable[str]]
) -> AsyncIterator[AsyncSession]:
    url = await serve(api.app())
    async with AsyncSession(API_KEY, base_url=url, max_retries=0) as session:
        yield session


@pytest.mark.parametrize(
    ("name", "path"),
    [
        (FULL, FULL_PATH),
        ("Sofrony-Test-hfjV", "/v0/models/Sofrony-Test-hfjV"),
        ("my model?#x", "/v0/models/my%20model%3F%23x"),
        ("..", "/v0/models/%2E%2E"),
        ("Qwen/Qwen3-4B-fast-LoRa:a/b", "/v0/models/Qwen/Qwen3-4B-fast-LoRa%3Aa%2Fb"),
        ("org name/..", "/v0/models/org%20name/%2E%2E"),
    ],
)
async def test_a_name_addresses_its_path_each_segment_escaped(
    api: ModelsApi, session: AsyncSession, name: str, path: str
) -> None:
    api.script("GET", path, model(name, "active"))
    api.script("DELETE", path, model(name, "deleted"))
    assert (await session.get_model(name)).name == name
    assert (await session.delete_model(name)).status == "deleted"
    assert [(s.method, s.raw_path) for s in api.seen] == [("GET", path), ("DELETE", path)]


@given(st.text(st.characters(codec="utf-8"), min_size=1))
def test_any_name_is_one_or_two_segments_that_give_it_back(name: str) -> None:
    vendor, slash, rest = name.partition("/")
    if slash and not (vendor and rest):
        with pytest.raises(ValueError, match="name"):
            model_path(name)
        return
    full, path = model_path(name)
    segments = path.removeprefix("/v0/models/").split("/")
    assert len(segments) == (2 if full else 1) == (1 + bool(slash))
    assert all(segment not in ("", ".", "..") for segment in segments)
    assert "/".join(unquote(segment) for segment in segments) == name


@pytest.mark.parametrize("name", ["", "/x", "x/", "/"])
async def test_names_that_address_nothing_are_refused(
    api: ModelsApi, session: AsyncSession, name: str
) -> None:
    with pytest.raises(ValueError, match="name"):
        await session.get_model(name)
    with pytest.raises(ValueError, match="name"):
        await session.wait_for_model(name, poll_interval=TICK)
    assert api.seen == []


async def test_a_create_sends_the_documented_body_once(
    api: ModelsApi, session: AsyncSession
) -> None:
    api.script("POST", "/v0/models", 503)
    with pytest.raises(InternalServerError):
        await session.create_model(name="m", base_model="org/base", source="file-1")
    api.script("POST", "/v0/models", model(status="validating"))
    created = await session.create_model(
        name="m", base_model="org/base", source="job:ckpt", description="d"
    )
    assert created.name == FULL
    bodies = [s.body for s in api.seen if s.method == "POST"]
    assert bodies == [  # the 503 was not retried: a create may have acted
        b'{"name":"m","base_model":"org/base","source":"file-1"}',
        b'{"name":"m","base_model":"org/base","source":"job:ckpt","description":"d"}',
    ]


async def test_an_archive_is_sent_as_one_file_part(api: ModelsApi, session: AsyncSession) -> None:
    api.script("POST", "/v0/models/upload", {"id": "file-df09cb37"})
    uploaded = await session.upload_model_archive(b"PK\x03\x04zip", filename="lora.zip")
    assert uploaded.id == "file-df09cb37"  # only the id: every other field has a default
    assert api.parts == [("file", "lora.zip", b"PK\x03\x04zip")]
    with pytest.raises(FileNotFoundError):
        await session.upload_model_archive("/nonexistent/adapter.zip")


async def test_models_decode_leniently(api: ModelsApi, session: AsyncSession) -> None:
    api.script(
        "GET",
        "/v0/models",
        [
            model(status="deploying", brand_new={"nested": [1]}),
            {"name": "bare"},
            model("short-abcd", "active", created_at="2026-01-01T00:00:00Z", tags=None),
        ],
    )
    first, bare, short = await session.list_models()
    assert first.status == "deploying" and not first.is_terminal
    assert first.quality == 73 and first.size_b == 8.03 and first.tags == ["128K context", "lora"]
    assert bare.status is None and not bare.is_terminal and bare.base_model is None
    assert short.created_at == "2026-01-01T00:00:00Z" and short.tags is None


async def test_an_error_is_raised_with_its_status_reason(
    api: ModelsApi, session: AsyncSession
) -> None:
    reason = "adapter rank 256 exceeds the maximum of 128"
    api.script("GET", FULL_PATH, model(), model(status="error", status_reason=reason))
    with pytest.raises(ModelDeploymentError) as caught:
        await wait_for_model(session, FULL, poll_interval=TICK)
    assert caught.value.status_reason == reason
    assert caught.value.model.status == "error" and caught.value.name == FULL
    assert reason in str(caught.value)


async def test_a_model_deleted_while_waited_for_is_raised(
    api: ModelsApi, session: AsyncSession
) -> None:
    api.script("GET", "/v0/models/m-abcd", model("m-abcd"), model("m-abcd", "deleted"))
    with pytest.raises(ModelDeploymentError, match="deleted"):
        await session.wait_for_model("m-abcd", poll_interval=TICK)


async def test_on_update_sees_each_change_and_its_failure_ends_the_wait(
    api: ModelsApi, session: AsyncSession
) -> None:
    api.script(
        "GET",
        FULL_PATH,
        model(),
        model(),
        model(status="deploying"),
        model(status="deploying"),
        model(status="active"),
    )
    seen: list[str | None] = []

    async def record(current: Any) -> None:
        seen.append(current.status)

    active = await wait_for_model(session, FULL, poll_interval=TICK, on_update=record)
    assert active.status == "active"
    assert seen == ["validating", "deploying", "active"]

    def broken(_: Any) -> None:
        raise RuntimeError("dashboard down")

    with pytest.raises(JobWaitError) as caught:
        await wait_for_model(session, FULL, poll_interval=TICK, on_update=broken)
    assert isinstance(caught.value.error, RuntimeError)
    assert caught.value.model is not None and caught.value.model.name == FULL


async def test_transient_failures_keep_the_wait_going(
    api: ModelsApi, session: AsyncSession
) -> None:
    api.script("GET", FULL_PATH, model(), 503, 502, 429, 500, model(status="active"))
    active = await wait_for_model(session, FULL, poll_interval=TICK)
    assert active.status == "active"
    assert api.count("GET", FULL_PATH) == 6


async def test_a_permanent_failure_ends_the_wait_at_once(
    api: ModelsApi, session: AsyncSession
) -> None:
    api.script("GET", FULL_PATH, model(), 404)
    with pytest.raises(NotFoundError):
        await wait_for_model(session, FULL, poll_interval=TICK)
    assert api.count("GET", FULL_PATH) == 2


async def test_the_deadline_holds_while_validating_and_while_a_poll_hangs(
    api: ModelsApi, session: AsyncSession
) -> None:
    api.script("GET", FULL_PATH, model())
    with pytest.raises(WaitTimeout) as caught:
        await wait_for_model(session, FULL, poll_interval=0.01, timeout=0.3)
    assert isinstance(caught.value, TimeoutError)
    assert caught.value.model is not None and caught.value.model.status == "validating"
    assert caught.value.job is None and caught.value.operation is None

    api.script("GET", "/v0/models/m-hangs", model("m-hangs"), "hang")  # a path of its own
    with pytest.raises(WaitTimeout) as caught:
        await wait_for_model(session, "m-hangs", poll_interval=0.01, timeout=0.5, poll_timeout=60)
    assert caught.value.model is not None  # the last model seen, from before the hang
    assert caught.value.model.name == "m-hangs"


async def test_cancelling_the_waiter_stops_polling(api: ModelsApi, session: AsyncSession) -> None:
    api.script("GET", FULL_PATH, model())
    task = asyncio.create_task(session.wait_for_model(FULL, poll_interval=0.01))
    await wait_until(lambda: api.count("GET", FULL_PATH) >= 3)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.sleep(0.02)  # a request sent just before the cancel may still land
    polls = api.count("GET", FULL_PATH)
    await asyncio.sleep(0.1)  # ten poll intervals
    assert api.count("GET", FULL_PATH) == polls


@pytest.mark.parametrize(
    ("option", "value"), [("poll_interval", 0), ("timeout", -1), ("poll_timeout", float("nan"))]
)
async def test_wait_options_are_checked(
    api: ModelsApi, session: AsyncSession, option: str, value: float
) -> None:
    options: dict[str, Any] = {"poll_interval": TICK, option: value}
    with pytest.raises(ValueError, match=option):
        await wait_for_model(session, FULL, **options)
    with pytest.raises(ValueError, match=option):
        await wait_for_file(session, "file-1", **options)
    assert api.seen == []


def file_body(status: str | None, details: str | None = None) -> dict[str, Any]:
    return {
        "id": "file-1",
        "object": "file",
        "bytes": 10,
        "created_at": 1767225600,
        "filename": "train.jsonl",
        "purpose": "fine-tune",
        "status": status,
        "status_details": details,
    }


async def test_a_file_waits_through_transient_failures_and_unknown_statuses(
    api: ModelsApi, session: AsyncSession
) -> None:
    api.script(
        "GET",
        "/v1/files/file-1",
        file_body("uploaded"),
        503,
        file_body("validating"),
        file_body("processed"),
    )
    seen: list[str | None] = []
    file = await wait_for_file(
        session, "file-1", poll_interval=TICK, on_update=lambda f: seen.append(f.status)
    )
    assert file.status == "processed"
    assert seen == ["uploaded", "validating", "processed"]


async def test_a_file_without_a_status_has_nothing_to_wait_for(
    api: ModelsApi, session: AsyncSession
) -> None:
    api.script("GET", "/v1/files/file-1", file_body(None))
    assert (await session.wait_for_file("file-1", poll_interval=TICK)).status is None
    assert api.count("GET", "/v1/files/file-1") == 1


async def test_a_file_error_is_raised_and_a_deadline_kept(
    api: ModelsApi, session: AsyncSession
) -> None:
    api.script("GET", "/v1/files/file-1", file_body("uploaded"), file_body("error", "bad line 3"))
    with pytest.raises(FileProcessingError, match="bad line 3"):
        await wait_for_file(session, "file-1", poll_interval=TICK)
    api.script("GET", "/v1/files/file-1", file_body("uploaded"))
    with pytest.raises(WaitTimeout) as caught:
        await wait_for_file(session, "file-1", poll_interval=0.01, timeout=0.3)
    assert caught.value.file is not None and caught.value.file.status == "uploaded"
    assert "file file-1" in str(caught.value)


async def test_a_retried_session_waits_out_a_429_before_the_next_poll(
    api: ModelsApi, serve: Callable[[web.Application], Awaitable[str]]
) -> None:
    sleeps = RecordedSleeps()
    url = await serve(api.app())
    api.script("GET", "/v0/models/m-abcd", 429, model("m-abcd", "active"))
    async with AsyncSession(
        API_KEY, base_url=url, retry_policy=RetryPolicy(sleep=sleeps)
    ) as session:
        assert (await session.wait_for_model("m-abcd", poll_interval=TICK)).status == "active"
    assert api.count("GET", "/v0/models/m-abcd") == 2  # a GET is retried by the session


async def test_call_options_reach_each_request(api: ModelsApi, session: AsyncSession) -> None:
    api.script("GET", FULL_PATH + "?ai_project_id=p1", model(status="active"))
    api.script("GET", "/v0/models?ai_project_id=p1", [model()])
    api.script("POST", "/v0/models/upload?ai_project_id=p1", {"id": "file-1"})
    api.script("POST", "/v0/models?ai_project_id=p1", model())
    project = {"ai_project_id": "p1"}
    assert (await session.get_model(FULL, extra_query=project)).status == "active"
    assert len(await session.list_models(extra_query=project)) == 1
    created = await session.create_model_from_archive(
        b"PK", name="m", base_model="org/base", extra_query=project
    )
    assert created.name == FULL
    assert [s.raw_path for s in api.seen][-2:] == [
        "/v0/models/upload?ai_project_id=p1",
        "/v0/models?ai_project_id=p1",
    ]

"""``nebius-ft mcp`` custom-model, file-wait and data-check tools: the official MCP client,
over stdio, against the fake API."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from nebius_ft_async.testing import FakeTokenFactory

from .test_mcp import KEY, cancel_midway, mcp_server

pytestmark = pytest.mark.anyio

BASE = "meta-llama/Llama-3.1-8B-Instruct"
GOOD_LINE = (
    b'{"messages": [{"role": "user", "content": "hi"}, '
    b'{"role": "assistant", "content": "hello"}]}\n'
)

Seen = list[tuple[float, float | None, str | None]]


@pytest.fixture
async def fake() -> AsyncIterator[FakeTokenFactory]:
    async with FakeTokenFactory(api_key=KEY) as fake:
        yield fake


async def _finished_job(fake: FakeTokenFactory) -> str:
    """A succeeded job with checkpoints at steps 25, 50, 75 and 100."""
    job_id = fake.add_job(running_steps=4, checkpoint_every=1)
    async with fake.session() as session:
        await session.wait_for_job(job_id, poll_interval=0.001)
    return job_id


def _recorder(seen: Seen) -> Callable[[float, float | None, str | None], Awaitable[None]]:
    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append((progress, total, message))

    return on_progress


async def test_new_tools_are_listed_with_their_gates(
    fake: FakeTokenFactory, tmp_path: Path
) -> None:
    async with mcp_server(fake.url, tmp_path) as server:
        tools = {tool.name: tool for tool in (await server.session.list_tools()).tools}
    deploy, delete, check = (
        tools["deploy_checkpoint"],
        tools["delete_model"],
        tools["check_data_file"],
    )
    assert "Only dry runs on this server: it was not started with --allow-deploy" in str(
        deploy.description
    )
    assert "Off on this server: it was not started with --allow-deploy" in str(delete.description)
    assert "Off on this server: it was not started with --root DIR" in str(check.description)
    assert deploy.input_schema["required"] == ["job_id", "name"]
    assert {"checkpoint_id", "dry_run"} <= set(deploy.input_schema["properties"])
    assert delete.annotations is not None and delete.annotations.destructive_hint is True
    assert deploy.annotations is not None and deploy.annotations.read_only_hint is False
    for name in ("get_model", "list_models", "wait_for_model", "wait_for_file", "check_data_file"):
        annotations = tools[name].annotations
        assert annotations is not None and annotations.read_only_hint is True, name
    model = tools["get_model"].output_schema
    assert model is not None and "status_reason" in model["properties"]
    assert "enum" not in model["$defs"]["ModelStatus"]
    report = check.output_schema
    assert report is not None and {"ok", "problems", "errors"} <= set(report["properties"])
    async with mcp_server(fake.url, tmp_path, "--allow-deploy", "--root", str(tmp_path)) as server:
        tools = {tool.name: tool for tool in (await server.session.list_tools()).tools}
    for name in ("deploy_checkpoint", "delete_model", "check_data_file"):
        assert "on this server" not in str(tools[name].description), name
    assert "Off on this server" in str(tools["upload_file"].description)


async def test_deploy_is_off_unless_allowed_and_a_dry_run_sends_nothing(
    fake: FakeTokenFactory, tmp_path: Path
) -> None:
    job_id = await _finished_job(fake)
    async with mcp_server(fake.url, tmp_path) as server:
        refused = await server.error("deploy_checkpoint", {"job_id": job_id, "name": "bot"})
        assert "--allow-deploy" in refused and "dry_run=true" in refused
        dry = await server.ok(
            "deploy_checkpoint", {"job_id": job_id, "name": "bot", "dry_run": True}
        )
        checkpoints = await server.ok("list_checkpoints", {"job_id": job_id})
        first = checkpoints["data"][-1]["id"]
        chosen = await server.ok(
            "deploy_checkpoint",
            {"job_id": job_id, "name": "bot", "checkpoint_id": first, "dry_run": True},
        )
        missing = await server.error(
            "deploy_checkpoint", {"job_id": "ftjob-missing", "name": "bot", "dry_run": True}
        )
        unnamed = await server.error(
            "deploy_checkpoint", {"job_id": job_id, "name": "", "dry_run": True}
        )
        fresh = fake.add_job()
        too_soon = await server.error(
            "deploy_checkpoint", {"job_id": fresh, "name": "bot", "dry_run": True}
        )
    last = max(checkpoints["data"], key=lambda c: c["step_number"])
    assert last["step_number"] == 100
    assert dry == {
        "dry_run": True,
        "method": "POST",
        "path": "/v0/models",
        "body": {"name": "bot", "base_model": BASE, "source": f"{job_id}:{last['id']}"},
    }
    assert chosen["body"]["source"] == f"{job_id}:{first}"
    assert missing == "HTTP 404: Job ftjob-missing not found"
    assert "name" in unnamed
    assert too_soon == f"job {fresh} has no checkpoint to deploy yet"
    assert fake.models == {}
    assert "/v0/models" not in fake.requests  # nothing was sent to deploy


async def test_deploy_wait_get_list_and_delete(fake: FakeTokenFactory, tmp_path: Path) -> None:
    job_id = await _finished_job(fake)
    seen: Seen = []
    async with mcp_server(fake.url, tmp_path, "--allow-deploy") as server:
        created = await server.ok(
            "deploy_checkpoint", {"job_id": job_id, "name": "bot", "description": "support"}
        )
        assert created["status"] == "validating" and created["job_id"] == job_id
        assert created["name"].startswith(f"{BASE}-LoRa:bot-")
        result = await server.call(
            "wait_for_model",
            {"name": created["name"], "poll_interval": 0.01},
            progress_callback=_recorder(seen),
        )
        assert not result.is_error, result.content
        assert result.structured_content is not None
        assert result.structured_content["status"] == "active"
        got = await server.ok("get_model", {"name": created["name"]})
        short = await server.ok("get_model", {"name": created["name"].rpartition("-LoRa:")[2]})
        listed = await server.ok("list_models", {})
        deleted = await server.ok("delete_model", {"name": created["name"]})
        gone = await server.error("get_model", {"name": created["name"]})
        again = await server.error("delete_model", {"name": created["name"]})
        empty = await server.ok("list_models", {})
    assert seen == [(1.0, None, "validating"), (2.0, None, "active")]
    assert got["status"] == "active" and got["description"] == "support"
    assert short["name"] == created["name"]
    assert [model["name"] for model in listed["data"]] == [created["name"]]
    assert deleted["status"] == "deleted"
    assert gone == again == f"HTTP 404: Model {created['name']} not found"
    assert empty == {"data": []} and fake.models == {}


async def test_delete_is_off_unless_allowed(fake: FakeTokenFactory, tmp_path: Path) -> None:
    name = fake.add_model("kept-abcd")
    async with mcp_server(fake.url, tmp_path, "--allow-create") as server:
        refused = await server.error("delete_model", {"name": name})
    assert "deploying and deleting custom models is off" in refused
    assert "--allow-deploy" in refused and "dry_run" not in refused
    assert list(fake.models) == [name]


async def test_a_model_in_error_is_a_tool_error_after_its_progress(
    fake: FakeTokenFactory, tmp_path: Path
) -> None:
    name = fake.add_model("broken-abcd", outcome="error", status_reason="adapter rank too high")
    seen: Seen = []
    async with mcp_server(fake.url, tmp_path) as server:
        result = await server.call(
            "wait_for_model",
            {"name": name, "poll_interval": 0.01},
            progress_callback=_recorder(seen),
        )
        timed_out = await server.error(
            "wait_for_model",
            {"name": fake.add_model("slow-abcd", validating_polls=10**6), "timeout": 0.5},
        )
    assert result.is_error
    assert result.content[0].text == (  # type: ignore[union-attr]
        "model broken-abcd is error, not active: adapter rank too high"
    )
    assert seen == [(1.0, None, "validating"), (2.0, None, "error: adapter rank too high")]
    assert "last status: validating" in timed_out and "call wait_for_model again" in timed_out


async def test_a_cancelled_model_wait_stops_polling(fake: FakeTokenFactory, tmp_path: Path) -> None:
    name = fake.add_model("slow-abcd", validating_polls=10**6)
    async with mcp_server(fake.url, tmp_path, verbose=True) as server:
        path = f"/v0/models/{name}"
        await cancel_midway(server, "wait_for_model", {"name": name}, lambda: fake.requests[path])
        assert (await server.ok("get_model", {"name": name}))["status"] == "validating"
    assert "Traceback" not in server.stderr.read_text()


async def test_wait_for_file_follows_it_to_processed_or_error(
    fake: FakeTokenFactory, tmp_path: Path
) -> None:
    async with fake.session() as session:
        good = (await session.upload_file(GOOD_LINE, filename="train.jsonl")).id
        bad = (await session.upload_file(b"x\n", filename="bad.jsonl")).id
    fake.script_file(good, "uploaded", "uploaded", "processed")
    fake.script_file(bad, "uploaded", "error", status_details="line 1 is not JSON")
    seen: Seen = []
    async with mcp_server(fake.url, tmp_path) as server:
        result = await server.call(
            "wait_for_file",
            {"file_id": good, "poll_interval": 0.01},
            progress_callback=_recorder(seen),
        )
        failed = await server.error("wait_for_file", {"file_id": bad, "poll_interval": 0.01})
        missing = await server.error("wait_for_file", {"file_id": "file-missing"})
    assert not result.is_error, result.content
    assert result.structured_content is not None
    assert result.structured_content["id"] == good
    assert result.structured_content["status"] == "processed"
    assert seen == [(1.0, None, "uploaded"), (2.0, None, "processed")]
    assert failed == f"file {bad} could not be processed: line 1 is not JSON"
    assert missing.startswith("HTTP 404: ")


async def test_check_data_file_reads_only_under_the_root(
    fake: FakeTokenFactory, tmp_path: Path
) -> None:
    root = tmp_path / "data"
    root.mkdir()
    (root / "good.jsonl").write_bytes(GOOD_LINE * 3)
    (root / "bad.jsonl").write_bytes(
        GOOD_LINE + b"not json\n" + b'{"messages": [{"role": "wizard", "content": "x"}]}\n'
    )
    (tmp_path / "secret.jsonl").write_bytes(b"outside\n")
    (root / "escape.jsonl").symlink_to(tmp_path / "secret.jsonl")

    async with mcp_server(fake.url, tmp_path) as server:
        refused = await server.error("check_data_file", {"path": "good.jsonl"})
    assert "reading local files is off" in refused and "--root DIR" in refused

    # --root alone is enough: checking reads and sends nothing
    async with mcp_server(fake.url, tmp_path, "--root", str(root)) as server:
        good = await server.ok("check_data_file", {"path": "good.jsonl"})
        bad = await server.ok("check_data_file", {"path": str(root / "bad.jsonl")})
        capped = await server.ok("check_data_file", {"path": "bad.jsonl", "max_problems": 1})
        for outside in ("../secret.jsonl", "escape.jsonl", str(tmp_path / "secret.jsonl")):
            complaint = await server.error("check_data_file", {"path": outside})
            assert "'..'" in complaint or "outside" in complaint, complaint
        assert "no file at 'nope.jsonl'" in await server.error(
            "check_data_file", {"path": "nope.jsonl"}
        )
        assert "max_problems" in await server.error(
            "check_data_file", {"path": "bad.jsonl", "max_problems": 0}
        )
    assert good["ok"] is True and good["path"] == "good.jsonl"
    assert good["format"] == "conversational" and good["examples"] == 3 and good["errors"] == 0
    assert bad["ok"] is False and bad["path"] == str(root / "bad.jsonl")
    assert bad["errors"] == 3 and bad["lines"] == 3
    assert [(p["line"], p["severity"]) for p in bad["problems"]] == [
        (2, "error"),
        (3, "error"),
        (3, "error"),
    ]
    assert bad["problems"][0]["reason"].startswith("not valid JSON")
    assert "wizard" in bad["problems"][1]["reason"]
    assert capped["errors"] == 3 and len(capped["problems"]) == 1
    assert "outside" not in json.dumps([good, bad, capped])
    assert fake.requests == {}


async def test_the_key_never_reaches_the_client_from_model_tools(
    serve: Callable[[web.Application], Awaitable[str]], tmp_path: Path
) -> None:
    # an API that puts the Authorization header it got into every answer

    def model(authorization: str) -> dict[str, Any]:
        return {"name": "echo", "status": "error", "status_reason": authorization}

    async def get_model(request: web.Request) -> web.Response:
        authorization = request.headers["Authorization"]
        if request.match_info["name"] == "bad":
            return web.json_response({"detail": f"bad key {authorization}"}, status=400)
        return web.json_response(model(authorization))

    async def list_models(request: web.Request) -> web.Response:
        return web.json_response([model(request.headers["Authorization"])])

    app = web.Application()
    app.router.add_get("/v0/models/{name}", get_model)
    app.router.add_get("/v0/models", list_models)
    calls: list[tuple[str, dict[str, Any]]] = [
        ("get_model", {"name": "echo"}),
        ("list_models", {}),
        ("get_model", {"name": "bad"}),
        ("wait_for_model", {"name": "echo", "poll_interval": 0.01}),
        ("wait_for_model", {"name": "bad", "poll_interval": 0.01}),
    ]
    answers = []
    async with mcp_server(await serve(app), tmp_path, verbose=True) as server:
        for name, arguments in calls:
            answers.append((await server.call(name, arguments)).model_dump_json())
        errors = server.stderr.read_text()
    assert len(answers) == 5 and all(KEY not in answer for answer in answers)
    assert all("[redacted]" in answer for answer in answers)
    assert "HTTP 400: bad key Bearer [redacted]" in answers[2]
    assert KEY not in errors

"""``nebius-ft mcp`` end to end: the official MCP client, over stdio, against the fake API."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import msgspec
import pytest
from aiohttp import web
from jsonschema import Draft202012Validator
from mcp import ClientSession, StdioServerParameters, stdio_client
from mcp.types import CallToolResult

from nebius_ft_async.testing import FakeTokenFactory

pytestmark = pytest.mark.anyio

KEY = "mcp-test-key-7Hq2"

TOOL_NAMES = [
    "list_jobs",
    "get_job",
    "list_events",
    "list_checkpoints",
    "get_operation_results",
    "create_job",
    "cancel_job",
    "wait_for_job",
    "upload_file",
    "check_data_file",
    "wait_for_file",
    "deploy_checkpoint",
    "get_model",
    "list_models",
    "wait_for_model",
    "delete_model",
]


@pytest.fixture
async def fake() -> AsyncIterator[FakeTokenFactory]:
    async with FakeTokenFactory(api_key=KEY) as fake:
        yield fake


class Server:
    """A client session with a ``nebius-ft mcp`` subprocess, and what it wrote to stderr."""

    def __init__(self, session: ClientSession, stderr: Path) -> None:
        self.session = session
        self.stderr = stderr

    async def call(self, name: str, arguments: dict[str, Any], **options: Any) -> CallToolResult:
        return await self.session.call_tool(name, arguments, **options)

    async def ok(self, name: str, arguments: dict[str, Any]) -> Any:
        """Call a tool that must succeed; its structured content, checked against its text."""
        result = await self.call(name, arguments)
        assert not result.is_error, result.content
        text = result.content[0].text  # type: ignore[union-attr]
        assert json.loads(text) == result.structured_content
        assert text == msgspec.json.encode(json.loads(text)).decode()  # compact
        return result.structured_content

    async def error(self, name: str, arguments: dict[str, Any]) -> str:
        """Call a tool that must fail; the text of its error."""
        result = await self.call(name, arguments)
        assert result.is_error, result.structured_content
        return str(result.content[0].text)  # type: ignore[union-attr]


@asynccontextmanager
async def mcp_server(
    base_url: str, tmp_path: Path, *flags: str, verbose: bool = False, by_flags: bool = False
) -> AsyncIterator[Server]:
    """``nebius-ft mcp`` with the key and URL in its environment, or as ``--api-key`` and
    ``--base-url`` (``by_flags``)."""
    env = {} if by_flags else {"NEBIUS_API_KEY": KEY, "NEBIUS_BASE_URL": base_url}
    prefix = ["--api-key", KEY, "--base-url", base_url] if by_flags else []
    prefix += ["-v"] if verbose else []
    parameters = StdioServerParameters(
        command=sys.executable, args=["-m", "nebius_ft_async", *prefix, "mcp", *flags], env=env
    )
    stderr = tmp_path / "server-stderr.log"
    with anyio.fail_after(60), stderr.open("w") as errlog:
        async with (
            stdio_client(parameters, errlog=errlog) as (read, write),
            ClientSession(read, write) as session,
        ):
            await session.initialize()
            yield Server(session, stderr)


async def cancel_midway(
    server: Server, tool: str, arguments: dict[str, Any], polls: Callable[[], int]
) -> None:
    """Call the wait ``tool`` polling every 10 ms, cancel it at its first progress
    notification, wait for the server to log the cancel, then check ``polls()`` (the
    server's count of the polls) stands still for twenty intervals."""
    first_progress = anyio.Event()

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        first_progress.set()

    async with anyio.create_task_group() as group:

        async def wait() -> None:
            await server.call(
                tool, {**arguments, "poll_interval": 0.01}, progress_callback=on_progress
            )
            pytest.fail("the wait should have been cancelled")

        group.start_soon(wait)
        await first_progress.wait()
        group.cancel_scope.cancel()
    # the server's log is another process's file: nothing to wait on but the file
    while f"{tool} cancelled by the client" not in server.stderr.read_text():  # noqa: ASYNC110
        await anyio.sleep(0.01)
    seen = polls()
    await anyio.sleep(0.2)  # twenty poll intervals
    assert polls() == seen


async def test_tools_are_listed_with_schemas(fake: FakeTokenFactory, tmp_path: Path) -> None:
    async with mcp_server(fake.url, tmp_path) as server:
        tools = {tool.name: tool for tool in (await server.session.list_tools()).tools}
    assert list(tools) == TOOL_NAMES
    for tool in tools.values():
        assert tool.description and len(tool.description) > 40
        for schema in (tool.input_schema, tool.output_schema):
            assert schema is not None and schema["type"] == "object"
            Draft202012Validator.check_schema(schema)
        assert tool.input_schema["additionalProperties"] is False
    assert tools["get_job"].input_schema["required"] == ["job_id"]
    job = tools["get_job"].output_schema
    assert {"id", "status", "trained_steps", "total_steps"} <= set(job["properties"])
    # an open enum: a status the API adds later must still fit the schema
    assert job["$defs"]["JobStatus"]["type"] == "string"
    assert "running" in job["$defs"]["JobStatus"]["description"]
    assert "enum" not in job["$defs"]["JobStatus"]
    create = tools["create_job"].input_schema
    assert {"model", "training_file", "method", "dry_run"} <= set(create["properties"])
    # an input's defaults tell the agent what it gets; an output's would only take its context
    epochs = create["$defs"]["SupervisedHyperparameters"]["properties"]["n_epochs"]
    assert epochs == {"type": "integer", "default": 3}
    assert '"default"' not in json.dumps(job) and '"title"' not in json.dumps(job)
    assert tools["get_job"].annotations is not None
    assert tools["get_job"].annotations.read_only_hint is True
    assert tools["cancel_job"].annotations is not None
    assert tools["cancel_job"].annotations.destructive_hint is True
    assert "Only dry runs on this server" in str(tools["create_job"].description)
    assert "Off on this server" in str(tools["upload_file"].description)
    assert "Off on this server" not in str(tools["wait_for_job"].description)


async def test_read_tools_answer_what_the_api_sent(fake: FakeTokenFactory, tmp_path: Path) -> None:
    first = fake.add_job(running_steps=4, checkpoint_every=1)
    second = fake.add_job()
    async with fake.session() as session:
        await session.wait_for_job(first, poll_interval=0.001)
    async with mcp_server(fake.url, tmp_path) as server:
        page = await server.ok("list_jobs", {"limit": 1})
        assert [job["id"] for job in page["data"]] == [second] and page["has_more"] is True
        page = await server.ok("list_jobs", {"after": page["data"][-1]["id"]})
        assert [job["id"] for job in page["data"]] == [first]

        job = await server.ok("get_job", {"job_id": first})
        assert job["status"] == "succeeded" and job["trained_steps"] == 100

        events = await server.ok("list_events", {"job_id": first, "limit": 3})
        assert len(events["data"]) == 3 and events["has_more"] is True
        assert events["data"][0]["message"] == "Job succeeded"

        checkpoints = await server.ok("list_checkpoints", {"job_id": first})
        assert [c["step_number"] for c in checkpoints["data"]] == [25, 50, 75, 100]

        results = await server.ok("get_operation_results", {"operation_id": first})
        assert [c["id"] for c in results["data"]] == [c["id"] for c in checkpoints["data"]]
        assert all(c["result_files"] for c in results["data"])

        cancelled = await server.ok("cancel_job", {"job_id": second})
        assert cancelled["status"] == "cancelled"
        assert fake.jobs[second].status() == "cancelled"


async def test_the_key_and_url_can_be_flags(fake: FakeTokenFactory, tmp_path: Path) -> None:
    job_id = fake.add_job()
    async with mcp_server(fake.url, tmp_path, by_flags=True) as server:
        assert (await server.ok("get_job", {"job_id": job_id}))["id"] == job_id


async def test_errors_name_the_status_and_detail(fake: FakeTokenFactory, tmp_path: Path) -> None:
    done = fake.add_job(running_steps=1)
    async with fake.session() as session:
        await session.wait_for_job(done, poll_interval=0.001)
    async with mcp_server(fake.url, tmp_path) as server:
        assert await server.error("get_job", {"job_id": "ftjob-missing"}) == (
            "HTTP 404: Job ftjob-missing not found"
        )
        refused = await server.error("cancel_job", {"job_id": done})
        assert refused.startswith("HTTP 400: ") and "already succeeded" in refused
        fake.fail_next(503, times=3)  # the first try and two retries
        failed = await server.error("get_job", {"job_id": done})
        assert failed.startswith("HTTP 503: injected 503")
        # arguments are checked against the input schema's type, naming the field
        assert "limit" in await server.error("list_jobs", {"limit": 0})
        assert "unknown field `jobid`" in await server.error("get_job", {"jobid": done})
        assert "job_id" in await server.error("get_job", {})
        assert "no tool named 'delete_everything'" in await server.error("delete_everything", {})
        timed_out = await server.error(
            "wait_for_job", {"job_id": fake.add_job(step_seconds=3600), "timeout": 1.0}
        )
        assert "validating_files" in timed_out and "call wait_for_job again" in timed_out


async def test_wait_reports_progress_to_the_end(fake: FakeTokenFactory, tmp_path: Path) -> None:
    job_id = fake.add_job(running_steps=4, total_steps=200)
    seen: list[tuple[float, float | None, str | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append((progress, total, message))

    async with mcp_server(fake.url, tmp_path) as server:
        result = await server.call(
            "wait_for_job",
            {"job_id": job_id, "poll_interval": 0.01},
            progress_callback=on_progress,
        )
    assert not result.is_error, result.content
    assert result.structured_content is not None
    assert result.structured_content["status"] == "succeeded"
    assert seen[0] == (0.0, 200.0, "validating_files: 0/200 steps")
    assert seen[-1] == (200.0, 200.0, "succeeded: 200/200 steps")
    assert [message for *_, message in seen] == [
        "validating_files: 0/200 steps",
        "queued: 0/200 steps",
        "running: 50/200 steps",
        "running: 100/200 steps",
        "running: 150/200 steps",
        "running: 200/200 steps",
        "succeeded: 200/200 steps",
    ]
    progress = [value for value, *_ in seen]
    assert progress == sorted(progress)


async def test_a_cancelled_wait_stops_polling(fake: FakeTokenFactory, tmp_path: Path) -> None:
    job_id = fake.add_job(step_seconds=3600)  # stays validating all through the test
    other = fake.add_job()
    async with mcp_server(fake.url, tmp_path, verbose=True) as server:
        path = f"/v1/fine_tuning/jobs/{job_id}"
        await cancel_midway(server, "wait_for_job", {"job_id": job_id}, lambda: fake.requests[path])
        # the server goes on serving
        assert (await server.ok("get_job", {"job_id": other}))["id"] == other
    assert "Traceback" not in server.stderr.read_text()


async def test_create_is_off_unless_allowed(fake: FakeTokenFactory, tmp_path: Path) -> None:
    async with fake.session() as session:
        uploaded = await session.upload_file(b'{"messages": []}\n', filename="train.jsonl")
    request = {
        "model": "meta-llama/Llama-3.1-8B-Instruct",
        "training_file": uploaded.id,
        "suffix": "bot",
        "method": {"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 2}}},
        "integrations": [{"type": "wandb", "wandb": {"project": "p", "api_key": "wandb-s3cret"}}],
    }
    async with mcp_server(fake.url, tmp_path) as server:
        refused = await server.error("create_job", request)
        assert "--allow-create" in refused and "dry_run=true" in refused
        dry = await server.ok("create_job", {**request, "dry_run": True})
    assert fake.jobs == {}
    assert dry == {
        "dry_run": True,
        "method": "POST",
        "path": "/v1/fine_tuning/jobs",
        "body": {
            "model": "meta-llama/Llama-3.1-8B-Instruct",
            "training_file": uploaded.id,
            "method": {"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 2}}},
            "integrations": [{"type": "wandb", "wandb": {"project": "p", "api_key": "***"}}],
            "suffix": "bot",
        },
    }
    async with mcp_server(fake.url, tmp_path, "--allow-create") as server:
        job = await server.ok("create_job", request)
        too_long = await server.error("create_job", {**request, "suffix": "x" * 65})
    assert list(fake.jobs) == [job["id"]] and job["status"] == "validating_files"
    assert fake.jobs[job["id"]].request["integrations"][0]["wandb"]["api_key"] == "wandb-s3cret"
    assert "suffix" in too_long


async def test_upload_is_off_unless_allowed_and_confined_to_root(
    fake: FakeTokenFactory, tmp_path: Path
) -> None:
    root = tmp_path / "data"
    (root / "nested").mkdir(parents=True)
    (root / "nested" / "train.jsonl").write_bytes(b'{"messages": []}\n')
    (tmp_path / "secret.jsonl").write_bytes(b"outside\n")
    (root / "escape.jsonl").symlink_to(tmp_path / "secret.jsonl")
    (root / "inside.jsonl").symlink_to(root / "nested" / "train.jsonl")

    async with mcp_server(fake.url, tmp_path, "--root", str(root)) as server:
        refused = await server.error("upload_file", {"path": "nested/train.jsonl"})
        assert "--allow-upload" in refused
    async with mcp_server(fake.url, tmp_path, "--allow-upload", "--root", str(root)) as server:
        uploaded = await server.ok("upload_file", {"path": "nested/train.jsonl"})
        assert fake.file_contents[uploaded["id"]] == b'{"messages": []}\n'
        assert uploaded["filename"] == "train.jsonl"
        linked = await server.ok("upload_file", {"path": str(root / "inside.jsonl")})
        assert fake.file_contents[linked["id"]] == b'{"messages": []}\n'
        assert linked["filename"] == "inside.jsonl"
        for outside in ("../secret.jsonl", "nested/../../secret.jsonl"):
            assert "'..'" in await server.error("upload_file", {"path": outside})
        for outside in ("escape.jsonl", str(tmp_path / "secret.jsonl")):
            assert "outside" in await server.error("upload_file", {"path": outside})
        assert "no file at 'nope.jsonl'" in await server.error(
            "upload_file", {"path": "nope.jsonl"}
        )
        assert "no file" in await server.error("upload_file", {"path": "nested"})
    assert b"outside\n" not in fake.file_contents.values()
    assert len(fake.files) == 2


@pytest.mark.parametrize(
    ("flags", "key", "complaint"),
    [
        (["--allow-upload"], KEY, "--allow-upload needs --root DIR"),
        (["--root", "/no/such/dir"], KEY, "--root must be an existing directory"),
        ([], None, "No API key"),
    ],
)
async def test_bad_settings_are_usage_errors(
    flags: list[str], key: str | None, complaint: str
) -> None:
    env = {name: value for name, value in os.environ.items() if not name.startswith("NEBIUS_")}
    if key is not None:
        env["NEBIUS_API_KEY"] = key
    with anyio.fail_after(60):
        done = await anyio.run_process(
            [sys.executable, "-m", "nebius_ft_async", "mcp", *flags], check=False, env=env
        )
    assert done.returncode == 2
    assert complaint in done.stderr.decode()


def test_without_the_sdk_the_command_says_which_extra_to_install() -> None:
    code = (
        "import sys\n"
        "sys.modules['mcp'] = None  # as if the extra were not installed\n"
        "from nebius_ft_async.cli import main\n"
        "sys.exit(main(['--api-key', 'k', 'mcp']))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 2
    assert "pip install 'nebius-ft-async[mcp]'" in done.stderr


def _echoing_api() -> web.Application:
    """An API that puts the Authorization header it got into everything it answers."""

    def job(authorization: str) -> dict[str, Any]:
        return {
            "id": "ftjob-echo",
            "created_at": 1,
            "model": f"model {authorization}",
            "status": "running",
            "training_file": authorization,
            "suffix": authorization.removeprefix("Bearer "),
        }

    async def get_job(request: web.Request) -> web.Response:
        authorization = request.headers["Authorization"]
        if request.match_info["job_id"] == "ftjob-bad":
            return web.json_response({"detail": f"bad key {authorization}"}, status=400)
        return web.json_response(job(authorization))

    async def list_jobs(request: web.Request) -> web.Response:
        body = {"object": "list", "data": [job(request.headers["Authorization"])]}
        return web.json_response(body)

    async def create(request: web.Request) -> web.Response:
        key = request.headers["Authorization"].removeprefix("Bearer ")
        detail = [{"loc": ["body", key], "msg": f"no {key}", "type": "value_error"}]
        return web.json_response({"detail": detail}, status=422)

    app = web.Application()
    app.router.add_get("/v1/fine_tuning/jobs/{job_id}", get_job)
    app.router.add_get("/v1/fine_tuning/jobs", list_jobs)
    app.router.add_post("/v1/fine_tuning/jobs", create)
    return app


async def test_the_key_never_reaches_the_client(
    serve: Callable[[web.Application], Awaitable[str]], tmp_path: Path
) -> None:
    base_url = await serve(_echoing_api())
    answers: list[str] = []
    async with mcp_server(base_url, tmp_path, "--allow-create", verbose=True) as server:
        for name, arguments in [
            ("get_job", {"job_id": "ftjob-echo"}),
            ("list_jobs", {}),
            ("get_job", {"job_id": "ftjob-bad"}),
            ("wait_for_job", {"job_id": "ftjob-bad", "poll_interval": 0.01}),
            ("create_job", {"model": "m", "training_file": "file-1"}),
            ("create_job", {"model": KEY, "training_file": "file-1", "dry_run": True}),
        ]:
            result = await server.call(name, arguments)
            answers.append(result.model_dump_json())
        errors = server.stderr.read_text()
    assert len(answers) == 6 and all(KEY not in answer for answer in answers)
    assert "[redacted]" in answers[0] and "HTTP 400: bad key Bearer [redacted]" in answers[2]
    assert "HTTP 400: bad key Bearer [redacted]" in answers[3]
    assert "HTTP 422" in answers[4] and "[redacted]" in answers[4]
    assert KEY not in errors


async def test_answers_the_fake_does_not_give_fit_the_output_schemas(
    serve: Callable[[web.Application], Awaitable[str]], tmp_path: Path
) -> None:
    async def get_job(request: web.Request) -> web.Response:
        job = {"id": "ftjob-new", "created_at": 1, "model": "m", "training_file": "f"}
        return web.json_response({**job, "status": "paused", "paused_by": "someone"})

    async def operation_results(request: web.Request) -> web.Response:
        return web.json_response({"file_id": "file-out"})

    app = web.Application()
    app.router.add_get("/v1/fine_tuning/jobs/{job_id}", get_job)
    app.router.add_get("/v1/operations/{operation_id}/results", operation_results)
    # the client checks each result against the tool's output schema
    async with mcp_server(await serve(app), tmp_path) as server:
        job = await server.ok("get_job", {"job_id": "ftjob-new"})
        written = await server.ok("get_operation_results", {"operation_id": "op-1"})
    assert job["status"] == "paused" and "paused_by" not in job
    assert written == {"file_id": "file-out"}


def test_importing_the_library_and_cli_does_not_load_the_mcp_sdk() -> None:
    code = (
        "import sys, nebius_ft_async, nebius_ft_async.cli, nebius_ft_async.mcp\n"
        "print(sorted(m for m in sys.modules if m == 'mcp' or m.startswith(('mcp.', 'mcp_'))))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"

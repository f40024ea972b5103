"""nebius-ft models deploy|list|get|delete|wait, end to end against FakeTokenFactory, and
against a local server where the test needs to see exactly what was sent and answered; the
confirmation asked on a real pseudo-terminal."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from nebius_ft_async.testing import FakeTokenFactory

from .cli_run import Result, nebius_ft, on_terminal

pytestmark = pytest.mark.anyio

BASE = "meta-llama/Llama-3.1-8B-Instruct"
TICK = "0.01"


@pytest.fixture
async def fake() -> AsyncIterator[FakeTokenFactory]:
    async with FakeTokenFactory(api_key="cli-models-key") as fake:
        yield fake


async def run(fake: FakeTokenFactory, *args: str) -> Result:
    return await nebius_ft(*args, url=fake.url, key=fake.api_key)


async def finished_job(fake: FakeTokenFactory) -> tuple[str, list[str]]:
    """A succeeded job and its checkpoint ids, the one at the highest step last."""
    job_id = fake.add_job(model=BASE, running_steps=6, checkpoint_every=2)
    async with fake.session() as session:
        await session.wait_for_job(job_id, poll_interval=0.001)
        checkpoints = [c async for c in session.iter_checkpoints(job_id)]
    checkpoints.sort(key=lambda c: c.step_number)
    assert len(checkpoints) >= 2
    return job_id, [c.id for c in checkpoints]


def adapter_zip(path: Path, *names: str) -> Path:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name in names:
            archive.writestr(name, b"{}")
    path.write_bytes(buffer.getvalue())
    return path


async def test_deploy_dry_run_shows_the_last_checkpoint_and_sends_nothing(
    fake: FakeTokenFactory,
) -> None:
    job_id, checkpoints = await finished_job(fake)
    last = await run(fake, "models", "deploy", "--name", "bot", "--job", job_id, "--dry-run")
    assert last.code == 0, last.err
    assert last.json_lines() == [
        {"name": "bot", "base_model": BASE, "source": f"{job_id}:{checkpoints[-1]}"}
    ]
    chosen = await run(
        fake,
        *("models", "deploy", "--name", "bot", "--job", job_id),
        *("--checkpoint", checkpoints[0], "--description", "early", "--dry-run"),
    )
    assert chosen.code == 0, chosen.err
    (body,) = chosen.json_lines()
    assert body == {
        "name": "bot",
        "base_model": BASE,
        "source": f"{job_id}:{checkpoints[0]}",
        "description": "early",
    }
    assert fake.models == {} and "/v0/models" not in fake.requests


async def test_deploy_from_the_last_and_a_chosen_checkpoint(fake: FakeTokenFactory) -> None:
    job_id, checkpoints = await finished_job(fake)
    deployed = await run(
        fake, "models", "deploy", "--name", "bot", "--job", job_id, "--yes", "--json"
    )
    assert deployed.code == 0, deployed.err
    (model,) = deployed.json_lines()
    assert isinstance(model, dict) and model["status"] == "validating"
    assert model["source"] == f"{job_id}:{checkpoints[-1]}"
    assert model["name"].startswith(f"{BASE}-LoRa:bot-") and model["name"] in fake.models

    chosen = await run(
        fake,
        *("models", "deploy", "--name", "early", "--job", job_id),
        *("--checkpoint", checkpoints[0], "--yes"),
    )
    assert chosen.code == 0, chosen.err
    (name,) = [n for n in fake.models if ":early-" in n]
    assert chosen.out == f"created {name} (validating)\n"
    assert fake.models[name].source == f"{job_id}:{checkpoints[0]}"


async def test_deploy_and_delete_refuse_without_a_terminal_or_yes(
    fake: FakeTokenFactory,
) -> None:
    job_id, _ = await finished_job(fake)
    name = fake.add_model("kept")
    refused = await run(fake, "models", "deploy", "--name", "bot", "--job", job_id)
    assert refused.code == 2
    assert refused.err == (
        "nebius-ft: models deploy: no model deployed without confirmation: "
        "stdin is not a terminal to ask on; pass --yes\n"
    )
    deleted = await run(fake, "models", "delete", name)
    assert deleted.code == 2 and "kept not deleted" in deleted.err and "--yes" in deleted.err
    assert list(fake.models) == [name]
    assert not any(path.startswith("/v0/models") for path in fake.requests)


async def test_deploy_asks_on_a_terminal(fake: FakeTokenFactory, tmp_path: Path) -> None:
    archive = adapter_zip(tmp_path / "adapter.zip", "adapter_config.json")
    args = ["models", "deploy", "--name", "zip", "--archive", str(archive), "--base-model", BASE]
    code, shown = await on_terminal(fake.url, fake.api_key, args, b"n")
    assert code == 1 and "not deployed" in shown and "Deploy this model?" in shown
    assert f"POST /v0/models/upload {archive}" in shown and "POST /v0/models {" in shown
    assert fake.models == {} and fake.files == {}

    code, shown = await on_terminal(fake.url, fake.api_key, args, b"y")
    assert code == 0, shown
    (model,) = fake.models.values()
    assert f"created {model.name}" in shown
    assert fake.file_contents[model.source] == archive.read_bytes()


async def test_delete_asks_on_a_terminal(fake: FakeTokenFactory) -> None:
    name = fake.add_model(f"{BASE}-LoRa:bot-abcd")
    code, shown = await on_terminal(fake.url, fake.api_key, ["models", "delete", name], b"n")
    assert code == 1 and "not deleted" in shown and f"Delete model {name}?" in shown
    assert list(fake.models) == [name]
    code, shown = await on_terminal(fake.url, fake.api_key, ["models", "delete", name], b"y")
    assert code == 0 and f"{name} deleted" in shown, shown
    assert fake.models == {}


async def test_deploy_wait_ends_active_or_in_error_with_the_reason(
    fake: FakeTokenFactory, tmp_path: Path
) -> None:
    job_id, _ = await finished_job(fake)
    active = await run(
        fake,
        *("models", "deploy", "--name", "bot", "--job", job_id),
        *("--yes", "--wait", "--interval", TICK),
    )
    assert active.code == 0, active.err
    (name,) = fake.models
    assert active.out.splitlines()[0] == f"created {name} (validating)"
    assert active.out.splitlines()[-1] == f"{name} active"

    as_json = await run(
        fake,
        *("models", "deploy", "--name", "again", "--job", job_id),
        *("--yes", "--wait", "--interval", TICK, "--json"),
    )
    assert as_json.code == 0, as_json.err
    created, final = as_json.json_lines()
    assert isinstance(created, dict) and isinstance(final, dict)
    assert (created["status"], final["status"]) == ("validating", "active")
    assert final["name"] == created["name"] and final["tags"] == ["lora"]

    broken = adapter_zip(tmp_path / "broken.zip", "adapter_model.safetensors")
    error = await run(
        fake,
        *("models", "deploy", "--name", "broken", "--archive", str(broken)),
        *("--base-model", BASE, "--yes", "--wait", "--interval", TICK),
    )
    assert error.code == 1, error.err
    (failed,) = [n for n in fake.models if ":broken-" in n]
    assert error.err.endswith(
        f"nebius-ft: model {failed} is error, not active: "
        "adapter_config.json not found in the archive\n"
    )
    assert error.out.splitlines()[-1] == (
        f"{failed} error: adapter_config.json not found in the archive"
    )


async def test_deploy_usage_errors_and_an_archive_s_dry_run_send_nothing(
    fake: FakeTokenFactory, tmp_path: Path
) -> None:
    cases = [
        (["--hf", "org/adapter"], "--base-model is required with --hf"),
        (["--hf", "not a repo", "--base-model", BASE], "Hugging Face repository"),
        (["--hf", "org/a", "--base-model", BASE, "--checkpoint", "c"], "--checkpoint needs --job"),
        (["--archive", str(tmp_path / "missing.zip"), "--base-model", BASE], "cannot read"),
        (["--archive", str(tmp_path), "--base-model", BASE], "not a file"),
        (["--job", "ftjob-1", "--hf", "org/a"], "not allowed with argument"),
    ]
    for more, said in cases:
        refused = await run(fake, "models", "deploy", "--name", "bot", *more, "--yes")
        assert refused.code == 2 and said in refused.err, (more, refused.err)
    unknown = await run(fake, "models", "deploy", "--name", "bot", "--job", "ftjob-nope", "--yes")
    assert unknown.code == 1 and "Job ftjob-nope not found" in unknown.err
    assert fake.requests.pop("/v1/fine_tuning/jobs/ftjob-nope") == 1
    archive = adapter_zip(tmp_path / "adapter.zip", "adapter_config.json")
    args = ["--archive", str(archive), "--base-model", BASE, "--dry-run"]
    dry = await run(fake, "models", "deploy", "--name", "bot", *args)
    assert dry.code == 0, dry.err
    assert dry.json_lines() == [
        {"name": "bot", "base_model": BASE, "source": f"<id of {archive} once uploaded>"}
    ]
    assert fake.requests == {} and fake.files == {}


async def test_list_get_delete_and_wait_by_short_and_full_name(fake: FakeTokenFactory) -> None:
    full = fake.add_model(f"{BASE}-LoRa:bot-abcd", validating_polls=0)
    short = fake.add_model("short-WXYZ", validating_polls=0, outcome="error", status_reason="bad")

    listed = await run(fake, "models", "list")
    assert listed.code == 0, listed.err
    header, *rows = listed.out.splitlines()
    assert header.split()[:2] == ["name", "status"]
    assert [row.split()[0] for row in rows] == [full, short]

    got = await run(fake, "models", "get", full)
    assert got.code == 0, got.err
    assert f"name  {full}" in got.out and "status  active" in got.out
    assert fake.requests[f"/v0/models/{full}"] == 1  # by vendor and full name
    short_got = await run(fake, "models", "get", short, "--json")
    (model,) = short_got.json_lines()
    assert isinstance(model, dict) and model["status_reason"] == "bad"
    assert fake.requests[f"/v0/models/{short}"] == 1

    waited = await run(fake, "models", "wait", full, "--interval", TICK)
    assert waited.code == 0 and waited.out == f"{full} active\n", waited.err
    failed = await run(fake, "models", "wait", short, "--interval", TICK)
    assert failed.code == 1 and failed.err.endswith(f"{short} is error, not active: bad\n")

    for name in (full, short):
        deleted = await run(fake, "models", "delete", name, "--yes")
        assert deleted.code == 0 and deleted.out == f"{name} deleted\n", deleted.err
    assert fake.models == {}
    gone = await run(fake, "models", "get", short)
    assert gone.code == 1 and "not found" in gone.err
    bad_name = await run(fake, "models", "get", "/nothing-before")
    assert bad_name.code == 2 and "not a model name" in bad_name.err


async def test_wait_timeout_exits_124(fake: FakeTokenFactory) -> None:
    name = fake.add_model("slow-abcd", validating_polls=10**9)
    waited = await run(fake, "models", "wait", name, "--timeout", "0.3", "--interval", TICK)
    assert waited.code == 124, waited.err
    assert "slow-abcd did not finish within 0.3 s (last status: validating)" in waited.err
    assert waited.out.startswith(f"{name} validating\n")


class RecordingModels:
    """A models API that answers with fields no model declares and records what it got."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []
        self.bodies: list[bytes] = []
        self.queries: list[str] = []

    def model(self, name: str, status: str = "active") -> dict[str, Any]:
        return {
            "name": name,
            "status": status,
            "base_model": BASE,
            "source": "huggingface.co/org/adapter",
            "created_at": 1744106413,
            "flavors": [{"name": "base", "regions": ["eu-north1"]}],
            "limits": {"tokens_per_minute": 400000},
        }

    def app(self) -> web.Application:
        async def create(request: web.Request) -> web.Response:
            self.bodies.append(await request.read())
            self.queries.append(request.query_string)
            return web.json_response(self.model("org/short-x", "validating"))

        async def listing(request: web.Request) -> web.Response:
            self.queries.append(request.query_string)
            return web.json_response([self.model("vendor/full-x"), self.model("short-x")])

        async def one(request: web.Request) -> web.Response:
            self.seen.append((request.method, request.path))
            info = request.match_info
            name = f"{info['vendor']}/{info['full_name']}" if "vendor" in info else info["name"]
            status = "deleted" if request.method == "DELETE" else "active"
            return web.json_response(self.model(name, status))

        app = web.Application()
        app.router.add_post("/v0/models", create)
        app.router.add_get("/v0/models", listing)
        for template in ("/v0/models/{name}", "/v0/models/{vendor}/{full_name}"):
            app.router.add_get(template, one)
            app.router.add_delete(template, one)
        return app


async def test_json_prints_fields_no_model_declares_as_sent() -> None:
    api = RecordingModels()
    async with TestServer(api.app(), host="127.0.0.1") as server:
        url = str(server.make_url("")).rstrip("/")

        async def cli(*args: str) -> Result:
            done = await nebius_ft(*args, url=url, key="k")
            assert done.code == 0, done.err
            return done

        listed = await cli("models", "list", "--json")
        got = await cli("models", "get", "vendor/full-x", "--json")
        deleted = await cli("models", "delete", "short-x", "--yes", "--json")
        args = ["models", "deploy", "--name", "n", "--hf", "org/adapter", "--base-model", BASE]
        dry = await cli(*args, "--description", "d", "--dry-run")
        assert api.bodies == []
        sent = await cli(*args, "--description", "d", "--yes", "--json")
        await cli(*args, "--ai-project-id", "project-1", "--yes")
        await cli("models", "list", "--ai-project-id", "project-1")
    assert listed.json_lines() == [api.model("vendor/full-x"), api.model("short-x")]
    assert got.json_lines() == [api.model("vendor/full-x")]
    assert deleted.json_lines() == [api.model("short-x", "deleted")]
    assert api.seen == [("GET", "/v0/models/vendor/full-x"), ("DELETE", "/v0/models/short-x")]
    assert api.bodies[0] == dry.out.strip().encode()
    assert api.queries == ["", "", "ai_project_id=project-1", "ai_project_id=project-1"]
    assert json.loads(api.bodies[0]) == {
        "name": "n",
        "base_model": BASE,
        "source": "huggingface.co/org/adapter",
        "description": "d",
    }
    assert sent.json_lines() == [api.model("org/short-x", "validating")]

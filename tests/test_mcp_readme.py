"""The README's MCP samples run: its client config and its Python client, against the fake."""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
from pathlib import Path

import anyio
import pytest
from mcp import ClientSession, StdioServerParameters, stdio_client

from nebius_ft_async.testing import FakeTokenFactory

pytestmark = pytest.mark.anyio

README = Path(__file__).resolve().parent.parent / "README.md"


def _section() -> str:
    text = README.read_text()
    start = text.index("## MCP server for agents")
    return text[start : text.index("\n## ", start + 1)]


def _block(language: str) -> str:
    (block,) = re.findall(rf"```{language}\n(.*?)```", _section(), re.DOTALL)
    return str(block)


def _environment(fake: FakeTokenFactory) -> dict[str, str]:
    """The environment a client gives the server: the key and URL, ``nebius-ft`` on PATH."""
    scripts = str(Path(sys.executable).parent)
    path = f"{scripts}{os.pathsep}{os.environ.get('PATH', '')}"
    return {"PATH": path, "NEBIUS_API_KEY": fake.api_key, "NEBIUS_BASE_URL": fake.url}


async def test_the_client_config_starts_the_server() -> None:
    config = json.loads(_block("json"))["mcpServers"]["nebius-ft"]
    async with FakeTokenFactory() as fake:
        job_id = fake.add_job()
        env = {**_environment(fake), **config["env"], "NEBIUS_API_KEY": fake.api_key}
        command = shutil.which(config["command"], path=env["PATH"])
        assert command is not None, "the nebius-ft script is installed beside python"
        parameters = StdioServerParameters(command=command, args=config["args"], env=env)
        with anyio.fail_after(60):
            async with (
                stdio_client(parameters) as (read, write),
                ClientSession(read, write) as session,
            ):
                await session.initialize()
                result = await session.call_tool("get_job", {"job_id": job_id})
    assert result.structured_content is not None
    assert result.structured_content["id"] == job_id


async def test_the_python_client_sample_runs(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(_block("python"))
    async with FakeTokenFactory() as fake:
        job_ids = [fake.add_job(), fake.add_job(outcome="failed")]
        with anyio.fail_after(60):
            done = await anyio.run_process(
                [sys.executable, str(sample)], env={**os.environ, **_environment(fake)}
            )
    lines = done.stdout.decode().splitlines()
    assert lines == [f"{job_id} validating_files" for job_id in reversed(job_ids)]

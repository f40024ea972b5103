"""nebius-ft fake serve: started as a subprocess, used by a client, stopped by a signal."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import anyio
import pytest
from anyio.abc import Process
from anyio.streams.buffered import BufferedByteReceiveStream

from nebius_ft_async import AsyncSession

from .cli_run import nebius_ft

pytestmark = pytest.mark.anyio


async def serve(*args: str) -> tuple[Process, BufferedByteReceiveStream]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEBIUS_")}
    process = await anyio.open_process(
        [sys.executable, "-m", "nebius_ft_async", "fake", "serve", *args],
        env=env,
        stdin=subprocess.DEVNULL,
    )
    assert process.stdout is not None
    return process, BufferedByteReceiveStream(process.stdout)


async def stopped(process: Process, signal_number: int) -> int:
    process.send_signal(signal_number)
    with anyio.fail_after(30):
        return await process.wait()


async def test_serve_json_used_by_a_client_then_stopped_by_sigterm() -> None:
    process, out = await serve("--jobs", "3", "--json", "--rate-limit", "50")
    async with process:
        try:
            with anyio.fail_after(30):
                where = json.loads(await out.receive_until(b"\n", 1000))
            assert where["url"].startswith("http://127.0.0.1:")
            async with AsyncSession(where["api_key"], base_url=where["url"]) as session:
                page = await session.with_raw_response(session.list_jobs)
                assert len(page.parse().data) == 3
                assert page.headers["x-ratelimit-limit-requests"] == "50"
            listed = await nebius_ft(
                "jobs", "list", "--json", url=where["url"], key=where["api_key"]
            )
            assert listed.code == 0 and len(listed.json_lines()) == 3
        finally:
            code = await stopped(process, signal.SIGTERM)
    assert code == 0


async def test_serve_prints_url_and_key_and_stops_on_sigint() -> None:
    process, out = await serve("--api-key", "my-fake-key")
    async with process:
        try:
            with anyio.fail_after(30):
                url = (await out.receive_until(b"\n", 1000)).decode()
                key = (await out.receive_until(b"\n", 1000)).decode()
            assert key == "my-fake-key"
            refused = await nebius_ft("jobs", "list", url=url, key="wrong")
            assert refused.code == 1 and "401" in refused.err
            assert (await nebius_ft("jobs", "list", url=url, key=key)).code == 0
        finally:
            code = await stopped(process, signal.SIGINT)
    assert code == 0


async def test_serve_usage_errors() -> None:
    for bad in (["--port", "70000"], ["--jobs", "-1"], ["--rate-limit", "0"]):
        with anyio.fail_after(30):
            done = await anyio.run_process(
                [sys.executable, "-m", "nebius_ft_async", "fake", "serve", *bad], check=False
            )
        assert done.returncode == 2, bad

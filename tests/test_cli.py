"""The nebius-ft command, end to end: a subprocess against FakeTokenFactory."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import AsyncIterator

import anyio
import pytest
from aiohttp import web

from nebius_ft_async.testing import FakeTokenFactory

from .conftest import ServeAnswer

pytestmark = pytest.mark.anyio


class Result:
    def __init__(self, code: int, out: str, err: str) -> None:
        self.code, self.out, self.err = code, out, err


@pytest.fixture
async def fake() -> AsyncIterator[FakeTokenFactory]:
    async with FakeTokenFactory(api_key="cli-test-key-123") as fake:
        yield fake


async def nebius_ft(*args: str, fake: FakeTokenFactory | None = None, key: bool = True) -> Result:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEBIUS_")}
    if fake is not None:
        env["NEBIUS_BASE_URL"] = fake.url
        if key:
            env["NEBIUS_API_KEY"] = fake.api_key
    with anyio.fail_after(60):
        done = await anyio.run_process(
            [sys.executable, "-m", "nebius_ft_async", *args], check=False, env=env
        )
    return Result(done.returncode, done.stdout.decode(), done.stderr.decode())


async def test_jobs_get_json_parses_back(fake: FakeTokenFactory) -> None:
    job_id = fake.add_job()
    result = await nebius_ft("jobs", "get", job_id, "--json", fake=fake)
    assert result.code == 0, result.err
    job = json.loads(result.out)
    assert job["id"] == job_id and job["status"] == "validating_files"


async def test_jobs_get_summary(fake: FakeTokenFactory) -> None:
    job_id = fake.add_job(outcome="failed", running_steps=1)
    for _ in range(3):
        await nebius_ft("jobs", "get", job_id, fake=fake)
    result = await nebius_ft("jobs", "get", job_id, fake=fake)
    assert result.code == 0
    assert "status  failed" in result.out
    assert "training_diverged: the training loss diverged" in result.out


async def test_jobs_wait_plain_lines_and_exit_codes(fake: FakeTokenFactory) -> None:
    good = [fake.add_job(running_steps=2) for _ in range(2)]
    result = await nebius_ft("jobs", "wait", *good, "--interval", "0.01", fake=fake)
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert all(job_id in "".join(lines) for job_id in good)
    assert sum(line.split()[1:2] == ["succeeded"] for line in lines) == 2
    assert lines[-1] == "2 jobs: 2 succeeded"
    assert "\x1b[" not in result.out  # no terminal redraws when piped

    bad = fake.add_job(outcome="failed", running_steps=1)
    result = await nebius_ft("jobs", "wait", good[0], bad, "--interval", "0.01", fake=fake)
    assert result.code == 1
    assert "the training loss diverged" in result.out

    cancelled = fake.add_job(running_steps=50)
    fake.jobs[cancelled].cancelled_at = 0
    result = await nebius_ft("jobs", "wait", cancelled, "--interval", "0.01", fake=fake)
    assert result.code == 1 and "cancelled" in result.out


async def test_jobs_wait_timeout_is_124(fake: FakeTokenFactory) -> None:
    slow = fake.add_job(step_seconds=60)
    result = await nebius_ft(
        "jobs", "wait", slow, "--interval", "0.05", "--timeout", "0.3", fake=fake
    )
    assert result.code == 124
    assert "timed out" in result.out


async def test_jobs_wait_timeout_fires_during_a_long_429_pause(fake: FakeTokenFactory) -> None:
    job_id = fake.add_job(step_seconds=60)
    fake.fail_next(429, retry_after=50, times=3)
    result = await nebius_ft(
        "jobs", "wait", job_id, "--interval", "0.05", "--timeout", "1", fake=fake
    )
    assert result.code == 124
    assert "timed out" in result.out


async def test_events_and_follow(fake: FakeTokenFactory) -> None:
    job_id = fake.add_job(running_steps=3)
    followed = await nebius_ft("events", job_id, "--follow", "--interval", "0.01", fake=fake)
    assert followed.code == 0
    assert followed.out.splitlines()[-1].endswith("Job succeeded")
    as_json = await nebius_ft("events", job_id, "--json", fake=fake)
    events = [json.loads(line) for line in as_json.out.splitlines()]
    assert [e["created_at"] for e in events] == sorted(e["created_at"] for e in events)
    assert events[0]["message"] == "Validating training file"
    table = await nebius_ft("events", job_id, fake=fake)
    assert table.out.splitlines()[0].split() == ["time", "(UTC)", "level", "message"]


async def test_checkpoints_and_operation_results(fake: FakeTokenFactory) -> None:
    job_id = fake.add_job(running_steps=4, checkpoint_every=1)
    await nebius_ft("jobs", "wait", job_id, "--interval", "0.01", fake=fake)
    checkpoints = await nebius_ft("checkpoints", job_id, "--json", fake=fake)
    steps = [json.loads(line)["step_number"] for line in checkpoints.out.splitlines()]
    assert steps == [25, 50, 75, 100]
    table = await nebius_ft("checkpoints", job_id, fake=fake)
    assert "train loss" in table.out and f"file-{job_id}-ckpt-100" in table.out
    results = await nebius_ft("operations", "results", job_id, "--json", fake=fake)
    assert len(results.out.splitlines()) == 4


async def test_api_error_is_one_line_without_traceback(fake: FakeTokenFactory) -> None:
    result = await nebius_ft("jobs", "get", "ftjob-missing", fake=fake)
    assert result.code == 1
    assert result.err.strip() == (
        "nebius-ft: HTTP 404 Not Found on GET /v1/fine_tuning/jobs/ftjob-missing: "
        "Job ftjob-missing not found"
    )
    assert "Traceback" not in result.err


async def test_missing_key_names_the_variable(fake: FakeTokenFactory) -> None:
    result = await nebius_ft("jobs", "get", "x", fake=fake, key=False)
    assert result.code == 2
    assert "NEBIUS_API_KEY" in result.err and "Traceback" not in result.err


async def test_wrong_key_is_an_authentication_error(fake: FakeTokenFactory) -> None:
    for command in (("jobs", "get", "x"), ("jobs", "wait", "x", "y")):
        result = await nebius_ft("--api-key", "wrong-key-42", *command, fake=fake)
        assert result.code == 1
        assert len(result.err.splitlines()) == 1
        assert "HTTP 401" in result.err and "wrong-key-42" not in result.err


async def test_help_and_usage_errors() -> None:
    result = await nebius_ft("--help")
    assert result.code == 0 and "nebius-ft demo" in result.out
    result = await nebius_ft("jobs")
    assert result.code == 2 and "usage:" in result.err


@pytest.mark.parametrize("value", ["0", "-1", "nan", "inf", "soon"])
async def test_bad_intervals_name_their_flag(fake: FakeTokenFactory, value: str) -> None:
    result = await nebius_ft("jobs", "wait", "ftjob-a", f"--interval={value}", fake=fake)
    assert result.code == 2
    assert "argument --interval: must be a finite number of seconds above 0" in result.err
    assert fake.requests == {}  # refused before anything was sent


@pytest.mark.parametrize("value", ["-1", "nan", "inf", "soon"])
async def test_bad_wait_timeouts_name_their_flag(fake: FakeTokenFactory, value: str) -> None:
    result = await nebius_ft("jobs", "wait", "ftjob-a", f"--timeout={value}", fake=fake)
    assert result.code == 2
    assert "argument --timeout: must be a finite number of seconds, 0 or more" in result.err
    assert fake.requests == {}


@pytest.mark.parametrize("command", [("jobs", "get"), ("events",), ("checkpoints",)])
async def test_a_zero_timeout_is_refused_where_it_cannot_mean_look_once(
    fake: FakeTokenFactory, command: tuple[str, ...]
) -> None:
    result = await nebius_ft(*command, "ftjob-a", "--timeout", "0", fake=fake)
    assert result.code == 2
    assert "argument --timeout: must be a finite number of seconds above 0" in result.err


async def test_an_interval_below_the_floor_of_a_remote_api_is_refused() -> None:
    env = {"NEBIUS_API_KEY": "k", "NEBIUS_BASE_URL": "https://api.example.invalid"}
    with anyio.fail_after(60):
        done = await anyio.run_process(
            [sys.executable, "-m", "nebius_ft_async", "events", "x", "--follow", "--interval=0.5"],
            check=False,
            env={**os.environ, **env},
        )
    assert done.returncode == 2
    assert b"--interval must be at least 1 s" in done.stderr


async def test_demo_runs_without_an_account() -> None:
    result = await nebius_ft("demo")
    assert result.code == 0, result.err
    assert "4 succeeded and 1 failed" in result.out
    assert "ftjob-demo-rate-limited" in result.out


async def test_an_empty_id_is_a_usage_error(fake: FakeTokenFactory) -> None:
    result = await nebius_ft("jobs", "get", "", fake=fake)
    assert result.code == 2
    assert result.err.strip() == "nebius-ft: job_id must be a non-empty string, got ''"


async def test_an_unreachable_api_fails_at_once(fake: FakeTokenFactory) -> None:
    unreachable = fake.url.rsplit(":", 1)[0] + ":1"
    for command in (("jobs", "wait", "ftjob-x"), ("events", "ftjob-x", "--follow")):
        result = await nebius_ft("--base-url", unreachable, *command, fake=fake)
        assert result.code == 1
        assert "Cannot connect" in result.err and "Traceback" not in result.err


async def test_json_output_into_a_closed_pipe_is_quiet(fake: FakeTokenFactory) -> None:
    job_id = fake.add_job(running_steps=500, step_seconds=0.0001)  # ~150 KB of events
    await anyio.sleep(0.1)
    env = {**os.environ, "NEBIUS_BASE_URL": fake.url, "NEBIUS_API_KEY": fake.api_key}
    command = f"'{sys.executable}' -m nebius_ft_async events {job_id} --json | head -1"
    with anyio.fail_after(60):
        done = await anyio.run_process(["sh", "-c", command], check=False, env=env)
    assert json.loads(done.stdout.decode())["object"] == "fine_tuning.job.event"
    assert b"Traceback" not in done.stderr and b"BrokenPipe" not in done.stderr


async def test_shared_flags_work_after_the_command_too(fake: FakeTokenFactory) -> None:
    job_id = fake.add_job()
    result = await nebius_ft(
        "jobs",
        "get",
        job_id,
        "--base-url",
        fake.url,
        "--api-key",
        fake.api_key,
        "--json",
        "-v",
    )
    assert result.code == 0, result.err
    assert json.loads(result.out)["id"] == job_id
    before = await nebius_ft(
        "--api-key", fake.api_key, "--base-url", fake.url, "jobs", "get", job_id
    )
    assert before.code == 0 and job_id in before.out
    # a flag given before the command is not reset by the command's own parser
    mixed = await nebius_ft("--api-key", fake.api_key, "events", job_id, "--base-url", fake.url)
    assert mixed.code == 0, mixed.err


async def test_settings_errors_name_the_flag_or_variable(fake: FakeTokenFactory) -> None:
    missing = await nebius_ft("jobs", "get", "x", fake=fake, key=False)
    assert missing.code == 2
    assert missing.err == "nebius-ft: no API key: pass --api-key or set NEBIUS_API_KEY\n"
    insecure = await nebius_ft("jobs", "get", "x", "--base-url", "http://192.0.2.1", fake=fake)
    assert insecure.code == 2
    assert "--base-url" in insecure.err and "pass --allow-insecure-http" in insecure.err
    assert "allow_insecure_http" not in insecure.err and "base_url" not in insecure.err
    credentials = await nebius_ft("jobs", "get", "x", "--base-url", "https://u:p@h", fake=fake)
    assert credentials.err == (
        "nebius-ft: --base-url must not contain credentials; "
        "give the key with --api-key or NEBIUS_API_KEY instead\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEBIUS_")}
    env |= {"NEBIUS_API_KEY": "k", "NEBIUS_BASE_URL": "ftp://h"}
    with anyio.fail_after(60):
        done = await anyio.run_process(
            [sys.executable, "-m", "nebius_ft_async", "jobs", "get", "x"], check=False, env=env
        )
    assert done.returncode == 2
    assert done.stderr.decode().startswith("nebius-ft: NEBIUS_BASE_URL must be an http(s) URL")


async def test_allow_insecure_http_lets_a_plain_url_through(fake: FakeTokenFactory) -> None:
    # nothing listens on TEST-NET-1: the request fails, but the URL is no longer refused
    result = await nebius_ft(
        "jobs",
        "get",
        "x",
        "--base-url",
        "http://192.0.2.1:9",
        "--allow-insecure-http",
        "--timeout",
        "0.5",
        fake=fake,
    )
    assert result.code in (1, 124)
    assert "insecure" not in result.err and "http://" not in result.err.split(":", 1)[0]


@pytest.fixture
async def silent_api(serve_answer: ServeAnswer) -> AsyncIterator[str]:
    """A server that takes every request and never answers (until the test ends)."""
    release = anyio.Event()

    async def never(request: web.Request) -> web.StreamResponse:
        await release.wait()
        return web.Response(status=503)

    yield await serve_answer(never)
    release.set()


@pytest.mark.parametrize(
    "command",
    [
        ("jobs", "get", "ftjob-a"),
        ("events", "ftjob-a"),
        ("events", "ftjob-a", "--follow"),
        ("checkpoints", "ftjob-a"),
        ("operations", "results", "op-a"),
    ],
)
async def test_timeout_bounds_every_command_against_a_silent_api(
    silent_api: str, command: tuple[str, ...]
) -> None:
    result = await nebius_ft(
        *command, "--timeout", "0.3", "--api-key", "k", "--base-url", silent_api
    )
    assert result.code == 124
    name = " ".join(command[:2]) if command[0] in ("jobs", "operations") else command[0]
    assert result.err == f"nebius-ft: {name} did not finish within --timeout 0.3 s\n"


async def test_a_finished_job_is_reported_finished_whatever_the_timeout(
    fake: FakeTokenFactory,
) -> None:
    done = fake.add_job(running_steps=1)
    first = await nebius_ft("jobs", "wait", done, "--interval", "0.01", fake=fake)
    assert first.code == 0
    for timeout in ("0", "0.000001"):
        again = await nebius_ft("jobs", "wait", done, "--timeout", timeout, fake=fake)
        assert again.code == 0, again.out
        assert again.out.split()[:2] == [done, "succeeded"]
        assert "timed out" not in again.out


async def test_timeout_zero_looks_once_at_a_job_still_going(fake: FakeTokenFactory) -> None:
    slow = fake.add_job(step_seconds=60)
    result = await nebius_ft("jobs", "wait", slow, "--timeout", "0", fake=fake)
    assert result.code == 124
    assert result.out.split()[:2] == [slow, "validating_files"]
    assert result.out.rstrip().endswith("timed out")
    assert fake.requests[f"/v1/fine_tuning/jobs/{slow}"] == 1


async def test_a_missing_job_is_shown_as_not_found(fake: FakeTokenFactory) -> None:
    good = fake.add_job(running_steps=1)
    result = await nebius_ft("jobs", "wait", "ftjob-missing", good, "--interval", "0.01", fake=fake)
    assert result.code == 1
    missing = [line for line in result.out.splitlines() if line.startswith("ftjob-missing")]
    assert missing == [
        "ftjob-missing  not found  steps -  loss -  eta -  HTTP 404: Job ftjob-missing not found"
    ]
    assert "waiting" not in result.out
    assert result.out.splitlines()[-1] == "2 jobs: 1 succeeded, 1 not found"


async def test_the_first_look_at_many_jobs_reads_list_pages(fake: FakeTokenFactory) -> None:
    job_ids = [fake.add_job(finish_after=0) for _ in range(12)]
    slow = fake.add_job(step_seconds=60)
    result = await nebius_ft("jobs", "wait", *job_ids, slow, "--timeout", "0", fake=fake)
    assert result.code == 124
    assert result.err == "nebius-ft: jobs wait: not every job finished (looked once, --timeout)\n"
    lines = result.out.splitlines()
    assert sum(line.split()[1] == "succeeded" for line in lines[:-1]) == 12
    assert lines[-1] == "13 jobs: 12 succeeded, 1 timed out"
    assert fake.requests["/v1/fine_tuning/jobs"] == 1  # one page, not 13 GETs
    assert not any(f"/v1/fine_tuning/jobs/{job_id}" in fake.requests for job_id in job_ids)


async def test_jobs_wait_against_a_silent_api_times_out_with_warnings(silent_api: str) -> None:
    result = await nebius_ft(
        *("jobs", "wait", "ftjob-a", "--interval", "0.01", "--timeout", "0.2"),
        *("--api-key", "k", "--base-url", silent_api),
    )
    assert result.code == 124
    assert result.out == "ftjob-a  unknown  steps -  loss -  eta -  timed out\n"
    err = result.err.splitlines()
    assert err[0].startswith("nebius-ft: polling ftjob-a failed (")
    assert err[-1] == "nebius-ft: jobs wait: not every job finished (waited 0.2 s, --timeout)"

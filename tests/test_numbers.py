"""Out-of-range numbers from the server: the display shows "-", the CLI never a traceback.

Decoding is lenient (no range checks), so a job may say it was created in the year 3e11 or
has 10**30 steps. The unit tests cover the display helpers; the CLI tests run ``nebius-ft``
as a subprocess against a local server that serves such numbers (``mocks.Paths``, served).
"""

from __future__ import annotations

import io
import json
import math
import os
import sys
from typing import Any

import anyio
import pytest

from nebius_ft_async.cli._display import (
    PLACEHOLDER,
    JobLine,
    PlainDisplay,
    count_text,
    eta_text,
    loss_text,
    number_or_none,
    steps_text,
    when_text,
)
from nebius_ft_async.cli._live import LiveDisplay
from nebius_ft_async.cli._wait import make_display

from .conftest import API_KEY, ServeAnswer
from .mocks import Paths, listed, served
from .samples import checkpoint_body, event_body, job_body

MAX_DIGITS = 4300  # Python's default limit for int <-> str, which msgspec follows
HUGE = 10 ** (MAX_DIGITS - 2)  # 4299 digits: decodes, with either sign
BEYOND_FLOAT = 10**400
YEAR_9999_END = 253402300799  # 9999-12-31 23:59:59 UTC
YEAR_1_START = -62135596800  # 0001-01-01 00:00:00 UTC
NOW = 1767225600.0  # 2026-01-01 00:00:00 UTC
JOB = "ftjob-absurd"

# --- the display helpers ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("timestamp", "text"),
    [
        (None, "-"),
        (10**17, "-"),
        (10**19, "-"),
        (-(10**19), "-"),
        (HUGE, "-"),
        (-HUGE, "-"),
        (YEAR_9999_END + 1, "-"),
        (YEAR_1_START - 1, "-"),
        (math.nan, "-"),
        (math.inf, "-"),
        (0, "1970-01-01 00:00:00"),
        (-1, "1969-12-31 23:59:59"),
        (1767225600, "2026-01-01 00:00:00"),
        (YEAR_9999_END, "9999-12-31 23:59:59"),
        (YEAR_1_START, "0001-01-01 00:00:00"),  # four digits, on every platform
    ],
    ids=repr,
)
def test_when_text(timestamp: Any, text: str) -> None:
    assert when_text(timestamp) == text


def test_count_text() -> None:
    assert count_text(None) == PLACEHOLDER == "-"
    assert count_text(0) == "0"
    assert count_text(-5) == "-5"  # nonsense, but readable: shown as sent
    assert count_text(10**18 - 1) == "999999999999999999"
    for unreadable in (10**18, -(10**18), 10**30, HUGE, -HUGE):
        assert count_text(unreadable) == "-"
    for not_an_int in (True, 1.5, math.nan, "7"):
        assert count_text(not_an_int) == "-"  # type: ignore[arg-type]


def test_steps_text() -> None:
    assert steps_text(None, None) == "-"
    assert steps_text(None, 100) == "0/100"
    assert steps_text(40, None) == "40/?"
    assert steps_text(40, 0) == "40/?"
    assert steps_text(-3, -5) == "-3/-5"
    assert steps_text(10**30, 0) == "-/?"
    assert steps_text(10**30, HUGE) == "-/-"


@pytest.mark.parametrize(
    ("value", "number"),
    [
        (0.25, 0.25),
        (3, 3.0),
        ("0.5", 0.5),
        (10**30, 1e30),
        (1e308, 1e308),
        (BEYOND_FLOAT, None),
        (-BEYOND_FLOAT, None),
        (math.nan, None),
        (math.inf, None),
        (-math.inf, None),
        ("NaN", None),
        ("inf", None),
        ("1e400", None),
        ("n/a", None),
        ("", None),
        (None, None),
        (True, None),
        ([0.5], None),
        ({"value": 0.5}, None),
    ],
    ids=lambda value: repr(value)[:20],
)
def test_number_or_none(value: object, number: float | None) -> None:
    assert number_or_none(value) == number


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, "-"),
        (0.25, "0.2500"),
        (-0.5, "-0.5000"),
        (999999.0, "999999.0000"),
        (1e6, "1e+06"),
        (-2.5e7, "-2.5e+07"),
        (1e308, "1e+308"),
        (10**31, "1e+31"),
        (BEYOND_FLOAT, "-"),
        (math.nan, "-"),
        (math.inf, "-"),
        (-math.inf, "-"),
        ("NaN", "-"),
        ("0.5", "0.5000"),
        ("n/a", "-"),
        ([1], "-"),
    ],
    ids=lambda value: repr(value)[:20],
)
def test_loss_text(value: object, text: str) -> None:
    assert loss_text(value) == text


@pytest.mark.parametrize(
    ("estimated_finish", "text"),
    [
        (None, "-"),
        (10**17, "-"),
        (10**19, "-"),
        (-(10**19), "-"),
        (BEYOND_FLOAT, "-"),
        (HUGE, "-"),
        (-HUGE, "-"),
        (math.nan, "-"),
        (math.inf, "-"),
        (YEAR_9999_END, "-"),  # a date, but no estimate: thousands of years away
        (int(NOW) + 999 * 86400, "-"),
        (int(NOW) + 999 * 86400 - 1, "998d23h"),
        (int(NOW) + 48 * 3600, "2d00h"),
        (int(NOW) + 48 * 3600 - 60, "47h59m"),
        (int(NOW) + 3 * 3600 + 5 * 60, "3h05m"),
        (int(NOW) + 90, "1m30s"),
        (int(NOW), "any moment"),
        (0, "any moment"),  # a date long past
        (YEAR_1_START, "any moment"),
    ],
    ids=repr,
)
def test_eta_text(estimated_finish: Any, text: str) -> None:
    assert eta_text(estimated_finish, NOW) == text
    assert JobLine(JOB, "running", estimated_finish=estimated_finish).eta(NOW) == text


def test_absurd_job_lines_in_plain_and_live_displays() -> None:
    line = JobLine(JOB, "running", 10**30, HUGE, math.nan, BEYOND_FLOAT)
    assert line.plain() == f"{JOB}  running  steps -/-  loss -  eta -"
    piped = io.StringIO()
    plain = make_display([JOB], piped)
    assert isinstance(plain, PlainDisplay)
    plain.update(line)
    assert piped.getvalue() == f"{JOB}  running  steps -/-  loss -  eta -\n"

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    terminal = Terminal()
    live = make_display([JOB], terminal)
    assert isinstance(live, LiveDisplay)
    live.update(line)
    live.update(JobLine(JOB, "running", -3, -5, -math.inf, -(10**19)))
    live.close()
    assert JOB in terminal.getvalue() and "-3/-5" in terminal.getvalue()


# --- the command line against a server that sends such numbers --------------------------


class Result:
    def __init__(self, code: int, out: str, err: str) -> None:
        self.code, self.out, self.err = code, out, err

    def assert_clean(self) -> None:
        assert self.code == 0, self.err
        assert "Traceback" not in self.err, self.err


async def nebius_ft(url: str, *args: str) -> Result:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEBIUS_")}
    env.update(NEBIUS_BASE_URL=url, NEBIUS_API_KEY=API_KEY)
    with anyio.fail_after(60):
        done = await anyio.run_process(
            [sys.executable, "-m", "nebius_ft_async", *args], check=False, env=env
        )
    return Result(done.returncode, done.stdout.decode(), done.stderr.decode())


@pytest.fixture
async def api_url(paths: Paths, serve_answer: ServeAnswer) -> str:
    """Where the command finds the API that ``paths`` scripts."""
    return await serve_answer(served(paths))


def summary(out: str) -> dict[str, str]:
    """The rows of ``jobs get``: ``{"created": "-", ...}``."""
    rows = (line.strip().split("  ", 1) for line in out.splitlines())
    return {name: value.strip() for name, value in rows}


ABSURD_JOBS = {
    "1e19": (
        job_body(
            JOB,
            "running",
            created_at=10**19,
            estimated_finish=10**17,
            finished_at=-(10**19),
            trained_steps=10**30,
            total_steps=0,
            trained_tokens=10**30,
        ),
        {"steps": "-/? (-)", "trained tokens": "-"},
    ),
    "huge": (
        job_body(
            JOB,
            "failed",
            created_at=-HUGE,
            estimated_finish=BEYOND_FLOAT,
            finished_at=HUGE,
            trained_steps=-(10**19),
            total_steps=-5,
            trained_tokens=-HUGE,
        ),
        {"steps": "-/-5 (-)", "trained tokens": "-"},
    ),
    "edges": (
        job_body(
            JOB,
            "succeeded",
            created_at=YEAR_9999_END + 1,
            estimated_finish=YEAR_9999_END,
            finished_at=YEAR_1_START,
            trained_steps=-3,
            total_steps=10**17,
            trained_tokens=10**18 - 1,
        ),
        {
            "estimated finish": "9999-12-31 23:59:59",
            "finished": "0001-01-01 00:00:00",
            "steps": "-3/100000000000000000 (0%)",
            "trained tokens": "999999999999999999",
        },
    ),
}


@pytest.mark.anyio
@pytest.mark.parametrize("name", list(ABSURD_JOBS))
async def test_jobs_get_shows_placeholders(paths: Paths, api_url: str, name: str) -> None:
    body, expected = ABSURD_JOBS[name]
    paths.job(JOB, body)
    result = await nebius_ft(api_url, "jobs", "get", JOB)
    result.assert_clean()
    rows = summary(result.out)
    placeholders = {"created": "-", "estimated finish": "-", "finished": "-"}
    assert rows == rows | placeholders | expected
    assert rows["status"] == body["status"]


@pytest.mark.anyio
@pytest.mark.parametrize("name", list(ABSURD_JOBS))
async def test_jobs_get_json_keeps_the_raw_numbers(paths: Paths, api_url: str, name: str) -> None:
    body, _ = ABSURD_JOBS[name]
    paths.job(JOB, body)
    result = await nebius_ft(api_url, "jobs", "get", JOB, "--json")
    result.assert_clean()
    job = json.loads(result.out)
    for field in ("created_at", "estimated_finish", "finished_at", "trained_steps"):
        assert job[field] == body[field]
    assert job["total_steps"] == body["total_steps"]
    assert job["trained_tokens"] == body["trained_tokens"]


def absurd_events() -> list[dict[str, Any]]:
    return [
        event_body(1, JOB, created_at=10**19, message="far future"),
        event_body(2, JOB, created_at=-(10**19), message="far past"),
        event_body(3, JOB, created_at=1767225600, data={"train_loss": "NaN"}, message="now"),
        event_body(4, JOB, created_at=HUGE, data={"train_loss": BEYOND_FLOAT}, message="huge"),
        event_body(5, JOB, created_at=-HUGE, type="message", data=None, message="-huge"),
    ]


@pytest.mark.anyio
async def test_events_table_follow_and_json(paths: Paths, api_url: str) -> None:
    paths.job(JOB, job_body(JOB, "succeeded"))
    paths.script(f"/v1/fine_tuning/jobs/{JOB}/events", listed(absurd_events(), 20, cursors=False))

    table = await nebius_ft(api_url, "events", JOB)
    table.assert_clean()
    rows = [line.split() for line in table.out.splitlines()[1:]]
    assert [(row[0], row[-1]) for row in rows] == [
        ("-", "-huge"),
        ("-", "past"),
        ("2026-01-01", "now"),
        ("-", "future"),
        ("-", "huge"),
    ]

    followed = await nebius_ft(api_url, "events", JOB, "--follow", "--interval", "0.01")
    followed.assert_clean()
    assert sorted(line.split()[-1] for line in followed.out.splitlines()) == sorted(
        row[-1] for row in rows
    )
    assert all(line.startswith(("-  ", "2026-01-01 ")) for line in followed.out.splitlines())

    as_json = await nebius_ft(api_url, "events", JOB, "--json")
    as_json.assert_clean()
    events = {e["message"]: e for e in map(json.loads, as_json.out.splitlines())}
    assert events["huge"]["created_at"] == HUGE
    assert events["huge"]["data"]["train_loss"] == BEYOND_FLOAT
    assert events["-huge"]["created_at"] == -HUGE


def absurd_checkpoints() -> list[dict[str, Any]]:
    return [
        checkpoint_body(
            1,
            JOB,
            created_at=HUGE,
            step_number=10**30,
            metrics={"step": "inf", "train_loss": "nan", "valid_loss": "-inf"},
        ),
        checkpoint_body(
            2, JOB, step_number=-5, metrics={"train_loss": 1e308, "valid_loss": 10**31}
        ),
    ]


@pytest.mark.anyio
async def test_checkpoints_and_operation_results(paths: Paths, api_url: str) -> None:
    paths.job(JOB, job_body(JOB, "succeeded"))
    checkpoints = absurd_checkpoints()
    paths.script(f"/v1/fine_tuning/jobs/{JOB}/checkpoints", listed(checkpoints, 10))
    ids = [c["id"] for c in checkpoints]

    table = await nebius_ft(api_url, "checkpoints", JOB)
    table.assert_clean()
    rows = [line.split() for line in table.out.splitlines()[1:]]
    assert rows == [
        [ids[0], "-", "-", "-", "file-ckpt-1"],
        [ids[1], "-5", "1e+308", "1e+31", "file-ckpt-2"],
    ]

    as_json = await nebius_ft(api_url, "checkpoints", JOB, "--json")
    as_json.assert_clean()
    assert [json.loads(line) for line in as_json.out.splitlines()] == checkpoints  # as sent

    paths.script("/v1/operations/op-absurd/results", listed(checkpoints, 10))
    results = await nebius_ft(api_url, "operations", "results", "op-absurd")
    results.assert_clean()
    rows = [line.split() for line in results.out.splitlines()[1:]]
    assert rows == [[ids[0], "-", "file-ckpt-1"], [ids[1], "-5", "file-ckpt-2"]]


# ``jobs wait`` keeps each job's last state as MessagePack (nebius_ft_async/_monitor.py),
# which holds ints from -2**63 to 2**64 - 1 only: the numbers here stay within that range.
INT64_MIN, UINT64_MAX = -(2**63), 2**64 - 1


@pytest.mark.anyio
@pytest.mark.parametrize(
    "estimated_finish",
    [10**17, 10**19, INT64_MIN, UINT64_MAX, YEAR_9999_END, YEAR_1_START - 1],
    ids=["1e17", "1e19", "int64 min", "uint64 max", "year 9999", "before year 1"],
)
async def test_jobs_wait_plain_lines(paths: Paths, api_url: str, estimated_finish: int) -> None:
    numbers = {
        "created_at": 10**19,
        "estimated_finish": estimated_finish,
        "trained_steps": 10**19,
        "total_steps": UINT64_MAX,
        "trained_tokens": INT64_MIN,
    }
    running = job_body(JOB, "running", **numbers)
    paths.job(JOB, running, running, running, job_body(JOB, "succeeded", **numbers))
    events = listed(absurd_events(), 20, cursors=False)  # the newest train loss is 10**400
    paths.script(f"/v1/fine_tuning/jobs/{JOB}/events", events)
    result = await nebius_ft(api_url, "jobs", "wait", JOB, "--interval", "0.01")
    result.assert_clean()
    lines = result.out.splitlines()
    assert f"{JOB}  running  steps -/-  loss -  eta -" in lines
    assert lines[-1] == f"{JOB}  succeeded  steps -/-  loss -  eta -"

"""``nebius-ft jobs wait`` in a real pseudo-terminal, its output played on a VT100 emulator.

The command runs as a subprocess whose stdin, stdout and stderr are a pty of a given size,
against a FakeTokenFactory in the test; pyte replays every byte it wrote, cursor moves
included, so the final screen is what a person would see.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pyte
import pytest

from nebius_ft_async.testing import FakeTokenFactory

from .cli_run import run_on_pty

pytestmark = pytest.mark.anyio


@pytest.fixture
async def fake() -> AsyncIterator[FakeTokenFactory]:
    async with FakeTokenFactory(api_key="pty-test-key") as fake:
        yield fake


async def in_terminal(
    fake: FakeTokenFactory, *args: str, columns: int, rows: int, term: str = "xterm-256color"
) -> tuple[int, bytes]:
    """Run ``python -m nebius_ft_async ARGS`` on a pty; its exit code and every byte it wrote."""
    return await run_on_pty(
        fake.url, fake.api_key, list(args), term=term, columns=columns, rows=rows
    )


def screen_of(output: bytes, columns: int, rows: int) -> list[str]:
    screen = pyte.Screen(columns, rows)
    pyte.ByteStream(screen).feed(output)
    return list(screen.display)


@pytest.mark.parametrize(("columns", "rows", "verbose"), [(120, 40, True), (60, 20, False)])
async def test_a_log_line_during_the_live_table_stays_intact_above_it(
    fake: FakeTokenFactory, columns: int, rows: int, verbose: bool
) -> None:
    job_ids = [fake.add_job(f"ftjob-pty-{index}", running_steps=3) for index in range(3)]
    fake.fail_next(503, times=3, path=job_ids[1])  # the first look at it gives up: a warning
    flags = ["-v"] if verbose else []
    code, output = await in_terminal(
        fake, "jobs", "wait", *job_ids, *flags, "--interval", "0.05", columns=columns, rows=rows
    )
    assert code == 0, output
    screen = screen_of(output, columns, rows)
    flat = "".join(screen)  # long lines wrap at the edge: read them as one
    warning = f"nebius-ft: polling {job_ids[1]} failed (HTTP 503 Service Unavailable on GET"
    assert warning in flat
    assert "(after 3 attempts)); polling again in 0.1 s" in flat
    retry = f"nebius-ft: retrying GET /v1/fine_tuning/jobs/{job_ids[1]} after HTTP 503"
    assert (retry in flat) is verbose
    text = [line.rstrip() for line in screen]
    warning_row = next(i for i, line in enumerate(text) if line.startswith("nebius-ft: polling"))
    title_row = text.index("fine-tuning jobs")  # once: no stale copy of an older drawing
    assert warning_row < title_row
    assert sum(line.split()[:2] == ["job", "status"] for line in text) == 1
    rows_shown = [line.split() for line in text if line.startswith("ftjob-pty-")]
    assert [row[:2] for row in rows_shown] == [[job_id, "succeeded"] for job_id in job_ids]
    assert all(len(line) <= columns for line in text)


async def test_a_dumb_terminal_gets_plain_lines_as_jobs_change(fake: FakeTokenFactory) -> None:
    job_id = fake.add_job("ftjob-dumb", running_steps=2)
    code, output = await in_terminal(
        fake, "jobs", "wait", job_id, "--interval", "0.05", columns=80, rows=24, term="dumb"
    )
    assert code == 0
    assert b"\x1b[" not in output  # no cursor moves, no colours
    statuses = [line.split()[1] for line in output.decode().splitlines() if line]
    assert statuses[0] in ("validating_files", "queued", "running")
    assert statuses[-1] == "succeeded" and len(statuses) >= 2


async def test_more_jobs_than_rows_are_summed_up_and_all_shown_at_the_end(
    fake: FakeTokenFactory,
) -> None:
    job_ids = [fake.add_job(f"ftjob-many-{index:02d}", running_steps=4) for index in range(30)]
    code, output = await in_terminal(
        fake, "jobs", "wait", *job_ids, "--interval", "0.05", columns=60, rows=20
    )
    assert code == 0
    assert b"not shown" in output  # while they did not fit, a summary counted them
    text = [line.rstrip() for line in screen_of(output, 60, 20)]
    assert text[-2:] == ["30 jobs: 30 succeeded", ""]
    rows = [line.split()[:2] for line in text if line.startswith("ftjob-many-")]
    assert rows == [[job_id, "succeeded"] for job_id in job_ids[-len(rows) :]]
    assert not any(line.strip() in ("...", "…") for line in text)
    scrolled = b"".join(output.split(b"fine-tuning jobs")[-1:])  # the last drawing
    assert all(job_id.encode() in scrolled for job_id in job_ids)

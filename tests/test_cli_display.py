"""How jobs are shown: the live table at several terminal sizes, plain lines, log routing."""

from __future__ import annotations

import io
import logging
import re
import time

import pytest
from rich.console import Console

from nebius_ft_async.cli._display import (
    CliLogHandler,
    JobLine,
    PlainDisplay,
    install_log_handler,
    logs_above,
    summary_text,
)
from nebius_ft_async.cli._live import (
    JOB_MIN_WIDTH,
    JobBoard,
    LiveDisplay,
    fit_columns,
    middle_ellipsis,
)
from nebius_ft_async.cli._wait import make_display

REAL_IDS = [f"ftjob-{index:02d}d3f1c0b7a9e24c58b6{index:02d}" for index in range(5)]
STATUSES = ["running", "validating_files", "succeeded", "failed", "cancelled"]


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def recording(width: int, height: int = 40) -> Console:
    return Console(file=io.StringIO(), width=width, height=height, force_terminal=True, record=True)


def board_of(job_ids: list[str]) -> JobBoard:
    board = JobBoard(job_ids)
    soon = int(time.time()) + 3 * 3600
    for index, job_id in enumerate(job_ids):
        status = STATUSES[index % len(STATUSES)]
        note = "the training loss diverged at step 40 of 100" if status == "failed" else ""
        finish = soon + index if status in ("running", "validating_files") else None
        board.update(JobLine(job_id, status, 40, 100, 0.25, finish, note))
    return board


def rendered(board: JobBoard, width: int, height: int = 40) -> list[str]:
    console = recording(width, height)
    console.print(board)
    return console.export_text().splitlines()


@pytest.mark.parametrize("width", [40, 60, 80, 120])
def test_the_table_fits_every_width_and_keeps_ids_and_statuses_readable(width: int) -> None:
    lines = rendered(board_of(REAL_IDS), width)
    assert all(len(line.rstrip()) <= width for line in lines), lines
    rows = [line for line in lines if line.startswith("ftjob-")]
    assert len(rows) == len(REAL_IDS)
    for row, job_id, status in zip(rows, REAL_IDS, STATUSES, strict=True):
        shown_id, shown_status = row.split()[:2]
        assert shown_status == status  # never cut
        assert len(shown_id) >= JOB_MIN_WIDTH
        assert shown_id == middle_ellipsis(job_id, len(shown_id))
    assert len({row.split()[0] for row in rows}) == len(REAL_IDS)  # still tell jobs apart
    header = next(line for line in lines if line.startswith("job"))
    if width >= 120:
        assert header.split() == ["job", "status", "steps", "train", "loss", "ETA", "note"]
        assert "the training loss diverged at step" in "\n".join(lines)  # cut, not left out
    if width == 80:  # the note is cut first, then the loss is left out
        assert header.split() == ["job", "status", "steps", "ETA", "note"]
    if width <= 60:
        assert header.split()[:2] == ["job", "status"]


def test_columns_give_way_least_useful_first() -> None:
    natural = {"job": 30, "status": 16, "steps": 7, "loss": 10, "eta": 10, "note": 40}
    assert fit_columns(natural, 200) == natural
    assert fit_columns(natural, 30 + 16 + 7 + 10 + 10 + 12 + 10) == {**natural, "note": 12}
    assert list(fit_columns(natural, 90)) == ["job", "status", "steps", "eta", "note"]
    assert list(fit_columns(natural, 80)) == ["job", "status", "steps", "eta"]
    assert list(fit_columns(natural, 60)) == ["job", "status", "steps"]
    assert fit_columns(natural, 40) == {"job": 22, "status": 16}
    assert fit_columns(natural, 20) == {"job": JOB_MIN_WIDTH, "status": 16}  # no shorter
    assert fit_columns({"job": 10, "status": 9}, 5) == {"job": 10, "status": 9}


def test_an_id_is_cut_in_the_middle_keeping_more_of_its_end() -> None:
    assert middle_ellipsis("ftjob-0123456789abcdef", 30) == "ftjob-0123456789abcdef"
    assert middle_ellipsis("ftjob-0123456789abcdef", 16) == "ftjob…6789abcdef"
    assert len(middle_ellipsis("x" * 100, 16)) == 16


def test_column_widths_do_not_jump_as_the_eta_changes() -> None:
    board = JobBoard(["ftjob-a"])
    board.update(JobLine("ftjob-a", "running", 1, 100, 0.5, int(time.time()) + 100 * 3600))
    wide = rendered(board, 120)
    board.update(JobLine("ftjob-a", "running", 2, 100, 0.5, int(time.time()) - 10))
    narrow = rendered(board, 120)
    header = next(line for line in wide if line.startswith("job"))
    assert next(line for line in narrow if line.startswith("job")) == header
    assert "any moment" in "\n".join(narrow)


def test_rows_that_do_not_fit_are_counted_in_a_summary() -> None:
    job_ids = [f"ftjob-fleet-{index:03d}" for index in range(60)]
    board = board_of(job_ids)
    lines = rendered(board, 60, height=20)
    assert len(lines) <= 20 - 1
    rows = [line for line in lines if line.startswith("ftjob-")]
    assert 0 < len(rows) < 60
    assert {row.split()[1] for row in rows} <= {"running", "validating_files", "failed"}
    summary = " ".join(" ".join(lines[lines.index(rows[-1]) + 1 :]).split())
    assert summary.startswith("60 jobs: 12 running, 12 validating_files, 12 succeeded")
    assert re.search(r"; last ETA (2h59m|3h00m); \d+ not shown$", summary)
    assert summary.endswith(f"; {60 - len(rows)} not shown")
    assert "..." not in "\n".join(lines)
    assert not any(line.startswith("60 jobs") for line in rendered(board_of(job_ids[:5]), 60))


def test_summary_counts_statuses_and_names_the_last_eta() -> None:
    now = 1_000_000.0
    lines = [
        JobLine("a", "running", estimated_finish=int(now) + 600),
        JobLine("b", "running", estimated_finish=int(now) + 4800),
        JobLine("c", "succeeded"),
        JobLine("d", "failed", note="diverged"),
        JobLine("e", "paused_by_admin"),
        JobLine("f", "running", estimated_finish=int(now) + 9000, note="timed out"),
    ]
    assert summary_text(lines, now) == (
        "6 jobs: 2 running, 1 succeeded, 1 failed, 1 timed out, 1 paused_by_admin; last ETA 1h20m"
    )
    assert summary_text([JobLine("a", "succeeded")], now) == "1 job: 1 succeeded"


def test_live_display_prints_log_lines_above_the_table_as_plain_text() -> None:
    console = recording(80)
    display = LiveDisplay(["ftjob-a", "ftjob-b"], FakeTerminal(), console=console)
    display.update(JobLine("ftjob-a", "running", 40, 100, 0.25, None))
    display.print_above("nebius-ft: polling ftjob-b failed ([429] slow down)")
    display.update(JobLine("ftjob-b", "failed", 10, 100, None, None, "bad [/data/x.jsonl]"))
    display.close()
    text = console.export_text()
    assert "nebius-ft: polling ftjob-b failed ([429] slow down)" in text
    assert text.index("([429] slow down)") < text.rindex("fine-tuning jobs")
    final = text[text.rindex("fine-tuning jobs") :]
    assert "ftjob-a" in final and "40/100" in final and "bad [/data/x.jsonl]" in final


def test_plain_lines_off_a_terminal_and_on_a_dumb_one(monkeypatch: pytest.MonkeyPatch) -> None:
    live = make_display(["ftjob-a"], FakeTerminal())
    live.close()
    assert isinstance(live, LiveDisplay)
    monkeypatch.setenv("TERM", "dumb")
    dumb = FakeTerminal()
    plain = make_display(["ftjob-a", "ftjob-b"], dumb)
    assert isinstance(plain, PlainDisplay)
    soon = int(time.time()) + 600
    plain.update(JobLine("ftjob-a", "running", 40, 100, 0.25, None))
    plain.update(JobLine("ftjob-a", "running", 40, 100, 0.25, soon))  # the ETA alone: no line
    plain.update(JobLine("ftjob-a", "succeeded", 100, 100, 0.2, None))
    plain.close()
    assert dumb.getvalue().splitlines() == [
        "ftjob-a  running  steps 40/100  loss 0.2500  eta -",
        "ftjob-a  succeeded  steps 100/100  loss 0.2000  eta -",
        "2 jobs: 1 waiting, 1 succeeded",
    ]
    assert "\x1b" not in dumb.getvalue()
    assert isinstance(make_display(["ftjob-a"], io.StringIO()), PlainDisplay)


def test_log_records_go_above_a_live_display_while_stderr_is_a_terminal(
    capsys: pytest.CaptureFixture[str],
) -> None:
    logger = logging.getLogger("nebius_ft_async")
    handler = install_log_handler(verbose=False)
    try:
        assert logger.level == logging.WARNING and not logger.propagate
        above: list[str] = []

        class Above:
            def update(self, line: JobLine) -> None: ...

            def close(self) -> None: ...

            def print_above(self, text: str) -> None:
                above.append(text)

        with logs_above(Above(), FakeTerminal()):
            logger.warning("polling %s failed", "ftjob-a")
            logger.info("a retry, not shown without -v")
        with logs_above(Above(), io.StringIO()):  # stderr elsewhere: it gets the lines
            logger.warning("to stderr")
        logger.warning("after the display")
        assert above == ["nebius-ft: polling ftjob-a failed"]
        assert capsys.readouterr().err == "nebius-ft: to stderr\nnebius-ft: after the display\n"
        assert isinstance(handler, CliLogHandler) and handler.above is None
    finally:
        logger.removeHandler(handler)
        logger.setLevel(logging.NOTSET)
        logger.propagate = True

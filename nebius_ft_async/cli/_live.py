"""The live table of ``jobs wait`` on a terminal (needs rich, the ``cli`` extra).

At every redraw the table is laid out for the terminal as it is then:

* columns keep the widest text they have shown, so they do not jump as the ETA changes;
* when the table is too wide, the least useful columns give way first: the note is cut
  (down to ``NOTE_MIN_WIDTH``) and then the train loss, the note, the ETA and the steps are
  left out, in that order; the job id is cut last, in the middle (the end of an id is what
  tells ids apart), never below ``JOB_MIN_WIDTH``; the status is never cut;
* when the rows do not all fit in the terminal's height, the jobs still going and those that
  failed are shown first, and a summary line counts every job by status with the ETA of the
  last to finish. The last drawing, left in the scrollback, shows every row.

Log lines are printed above the table (``print_above``), so they stay on the screen.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO

from rich import box
from rich.console import Console, ConsoleOptions, RenderResult
from rich.live import Live
from rich.table import Table
from rich.text import Text

from ._display import JobLine, summary_text

JOB_MIN_WIDTH = 16
"""A job id is never cut shorter than this (``ftjob-`` and ten more characters)."""
NOTE_MIN_WIDTH = 12
"""The note column is cut down to this before it is left out."""
GAP = 2
"""Columns are this many spaces apart."""
TITLE = "fine-tuning jobs"

_STATUS_STYLE = {
    "succeeded": "bold green",
    "failed": "bold red",
    "cancelled": "yellow",
    "running": "cyan",
    "not found": "bold red",
    "error": "bold red",
}
_HEADERS = {
    "job": "job",
    "status": "status",
    "steps": "steps",
    "loss": "train loss",
    "eta": "ETA",
    "note": "note",
}
_CELLS: dict[str, Callable[[JobLine, float], str]] = {
    "job": lambda line, now: line.job_id,
    "status": lambda line, now: line.status,
    "steps": lambda line, now: line.steps(),
    "loss": lambda line, now: line.loss(),
    "eta": lambda line, now: line.eta(now),
    "note": lambda line, now: line.note,
}
_MIN_NATURAL = {"eta": len("any moment")}  # the ETA column is as wide as its widest text
_DROP_ORDER = ("loss", "note", "eta", "steps")
# rows besides the jobs: title, header, header rule, one summary line, the cursor's line
_FIXED_ROWS = 5
# which rows are kept when not all fit: going, then failed, then the rest
_ROW_RANK = {"failed": 1, "cancelled": 1, "not found": 1, "error": 1, "succeeded": 2}


def middle_ellipsis(text: str, width: int) -> str:
    """``text`` cut to ``width`` characters by an ellipsis in the middle (more of the end)."""
    if len(text) <= width:
        return text
    if width <= 1:
        return "…"[:width]
    head = (width - 1) // 3
    tail = width - 1 - head
    return f"{text[:head]}…{text[len(text) - tail :]}"


def fit_columns(natural: dict[str, int], available: int) -> dict[str, int]:
    """The width of each column shown, in display order, so the table fits ``available``.

    ``natural`` holds each column's wanted width (``job``, ``status`` and any of ``steps``,
    ``loss``, ``eta``, ``note``). The table may stay wider than ``available`` only when the
    job id at ``JOB_MIN_WIDTH`` and the status alone do not fit.
    """
    widths = dict(natural)

    def excess() -> int:
        return sum(widths.values()) + GAP * (len(widths) - 1) - available

    if "note" in widths and excess() > 0:
        widths["note"] = max(NOTE_MIN_WIDTH, widths["note"] - excess())
    for name in _DROP_ORDER:
        if excess() <= 0:
            break
        widths.pop(name, None)
    if excess() > 0:
        floor = min(widths["job"], JOB_MIN_WIDTH)
        widths["job"] = max(floor, widths["job"] - excess())
    return widths


class JobBoard:
    """The renderable the live display redraws: the table and, when rows are hidden, the
    summary. Column widths only grow, so nothing jumps from one redraw to the next."""

    def __init__(self, job_ids: list[str]) -> None:
        self.lines = {job_id: JobLine(job_id) for job_id in job_ids}
        self.fit_height = True
        """While True, rows that do not fit the terminal's height are left out; the last
        drawing (which stays in the scrollback) shows them all."""
        self._natural = {name: len(header) for name, header in _HEADERS.items()}
        self._natural["note"] = 0  # no note column until a job has a note
        for name, width in _MIN_NATURAL.items():
            self._natural[name] = max(self._natural[name], width)
        for line in self.lines.values():
            self._measure(line, time.time())

    def update(self, line: JobLine) -> None:
        self.lines[line.job_id] = line
        self._measure(line, time.time())

    def _measure(self, line: JobLine, now: float) -> None:
        for name, cell in _CELLS.items():
            text = cell(line, now)
            if text:  # the note column appears with the first note, as wide as its header
                wanted = max(len(text), len(_HEADERS[name]))
                self._natural[name] = max(self._natural[name], wanted)

    def _rows_shown(
        self, console: Console, options: ConsoleOptions, now: float
    ) -> tuple[list[JobLine], Text | None]:
        """The rows that fit the terminal's height and, when some do not, the summary."""
        lines = list(self.lines.values())
        room = options.size.height - _FIXED_ROWS
        if len(lines) <= room:
            return lines, None
        counts = summary_text(lines, now)
        if not self.fit_height:
            return lines, Text(counts)
        widest = Text(f"{counts}; {len(lines)} not shown")  # as many lines as it will take
        room -= len(widest.wrap(console, options.max_width)) - 1
        ranked = sorted(range(len(lines)), key=lambda i: (_ROW_RANK.get(lines[i].status, 0), i))
        shown = [lines[i] for i in sorted(ranked[: max(room, 1)])]
        return shown, Text(f"{counts}; {len(lines) - len(shown)} not shown")

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        now = time.time()
        rows, summary = self._rows_shown(console, options, now)
        for line in rows:  # an ETA's text changes with the clock
            self._natural["eta"] = max(self._natural["eta"], len(line.eta(now)))
        natural = {name: width for name, width in self._natural.items() if width}
        widths = fit_columns(natural, options.max_width)
        table = Table(
            title=TITLE,
            title_justify="left",
            box=box.SIMPLE_HEAD,
            show_edge=False,
            pad_edge=False,
            collapse_padding=True,
        )
        for name, width in widths.items():
            table.add_column(_HEADERS[name], width=width, no_wrap=True, overflow="ellipsis")
        for line in rows:  # Text, not markup: server text such as "[x]" is shown as sent
            cells = []
            for name, width in widths.items():
                text = _CELLS[name](line, now)
                if name == "job":
                    text = middle_ellipsis(text, width)
                style = _STATUS_STYLE.get(line.status, "") if name == "status" else ""
                cells.append(Text(text, style=style))
            table.add_row(*cells)
        yield table
        if summary is not None:
            yield summary


class LiveDisplay:
    """The job board redrawn in place on a terminal; log lines print above it."""

    def __init__(self, job_ids: list[str], out: TextIO, console: Console | None = None) -> None:
        self.board = JobBoard(job_ids)
        self.console = console or Console(file=out)
        # log lines come through ``print_above``; anything else written to stderr while it
        # is the same kind of terminal is printed above the table too
        self._live = Live(
            self.board,
            console=self.console,
            refresh_per_second=8,
            transient=False,
            redirect_stdout=False,
            redirect_stderr=sys.stderr.isatty(),
        )
        self._live.start()

    def update(self, line: JobLine) -> None:
        self.board.update(line)  # drawn at the next refresh, at most 1/8 s later

    def print_above(self, text: str) -> None:
        """Print a line above the table (as plain text: never read as markup)."""
        self.console.print(Text(text), soft_wrap=True)

    def close(self) -> None:
        self.board.fit_height = False
        self._live.stop()

"""How the command line shows jobs: a live table on a terminal, plain lines elsewhere.

The live table needs ``rich`` (the ``cli`` extra); without it, or when the output is not a
terminal (piped, CI), each change is one plain line, so logs stay readable.

Numbers from the server are shown through the ``*_text`` helpers, which never raise: a value
that is missing or cannot be shown readably (a time outside the years 1 to 9999, NaN, an int
of 4000 digits, an ETA centuries away) is shown as ``PLACEHOLDER`` ("-"). ``--json`` output
keeps the raw numbers.
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass
from typing import Any, Protocol, TextIO

from .._models import FineTuningJob, utc_datetime

PLACEHOLDER = "-"
"""Shown for a number that is missing or cannot be shown readably."""

_MAX_COUNT = 10**18  # a step or token count shown has at most 18 digits
_MAX_ETA_SECONDS = 999 * 86400  # an ETA further away is not an estimate


def number_or_none(value: object) -> float | None:
    """``value`` as a finite float, or ``None``: for metrics the server may send as anything.

    Ints (however large), floats and numeric strings ("0.5") are numbers; NaN, infinity,
    bools, ints beyond a float's range and everything else are not.
    """
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        number = float(value)
    except (OverflowError, ValueError):
        return None
    return number if math.isfinite(number) else None


def when_text(timestamp: int | None) -> str:
    """A unix timestamp as ``YYYY-MM-DD HH:MM:SS`` (UTC), or "-" when it cannot be a date."""
    moment = utc_datetime(timestamp)
    if moment is None:
        return PLACEHOLDER
    return moment.replace(tzinfo=None).isoformat(sep=" ", timespec="seconds")


def count_text(value: int | None) -> str:
    """A step or token count as is, or "-" when missing, not an int, or over 18 digits."""
    if isinstance(value, bool) or not isinstance(value, int) or abs(value) >= _MAX_COUNT:
        return PLACEHOLDER
    return str(value)


def steps_text(trained: int | None, total: int | None) -> str:
    """``trained/total``: "0" when trained is unknown, "?" when total is; "-" for neither."""
    if trained is None and total is None:
        return PLACEHOLDER
    return f"{count_text(trained or 0)}/{count_text(total) if total else '?'}"


def loss_text(value: object) -> str:
    """A loss with 4 decimals (``1.2e+07`` style from a million on), or "-" if not finite."""
    number = number_or_none(value)
    if number is None:
        return PLACEHOLDER
    return f"{number:.4f}" if abs(number) < 1e6 else f"{number:.4g}"


def eta_text(estimated_finish: int | None, now: float) -> str:
    """How long until ``estimated_finish``; "-" when unknown, not a date, or 999+ days away."""
    if estimated_finish is None or utc_datetime(estimated_finish) is None:
        return PLACEHOLDER
    remaining = estimated_finish - now  # a valid date: within a float's range
    if remaining >= _MAX_ETA_SECONDS:
        return PLACEHOLDER
    seconds = int(remaining)
    if seconds <= 0:
        return "any moment"
    minutes, seconds = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    if hours >= 48:
        days, hours = divmod(hours, 24)
        return f"{days}d{hours:02d}h"
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{seconds:02d}s"


@dataclass
class JobLine:
    """What is shown for one job."""

    job_id: str
    status: str = "waiting"
    trained_steps: int | None = None
    total_steps: int | None = None
    train_loss: float | None = None
    estimated_finish: int | None = None
    note: str = ""

    @classmethod
    def of(cls, job: FineTuningJob, train_loss: float | None, note: str = "") -> JobLine:
        if not note and job.error is not None:
            note = job.error.message
        return cls(
            job_id=job.id,
            status=str(job.status),
            trained_steps=job.trained_steps,
            total_steps=job.total_steps,
            train_loss=train_loss,
            estimated_finish=None if job.is_terminal else job.estimated_finish,
            note=note,
        )

    def steps(self) -> str:
        return steps_text(self.trained_steps, self.total_steps)

    def loss(self) -> str:
        return loss_text(self.train_loss)

    def eta(self, now: float | None = None) -> str:
        return eta_text(self.estimated_finish, time.time() if now is None else now)

    def plain(self) -> str:
        parts = [self.job_id, self.status, f"steps {self.steps()}", f"loss {self.loss()}"]
        parts.append(f"eta {self.eta()}")
        if self.note:
            parts.append(self.note)
        return "  ".join(parts)


class Display(Protocol):
    def update(self, line: JobLine) -> None: ...

    def close(self) -> None: ...


class PlainDisplay:
    """One line per change, for logs and pipes."""

    def __init__(self, out: TextIO) -> None:
        self._out = out
        self._last: dict[str, str] = {}

    def update(self, line: JobLine) -> None:
        text = line.plain()
        if self._last.get(line.job_id) != text:
            self._last[line.job_id] = text
            print(text, file=self._out, flush=True)

    def close(self) -> None:
        return None


_STATUS_STYLE = {
    "succeeded": "bold green",
    "failed": "bold red",
    "cancelled": "yellow",
    "running": "cyan",
}


class LiveDisplay:
    """A table redrawn in place, one row per job (needs rich)."""

    def __init__(self, job_ids: list[str], out: TextIO) -> None:
        from rich.console import Console
        from rich.live import Live

        self._lines = {job_id: JobLine(job_id) for job_id in job_ids}
        self._live = Live(
            self._table(), console=Console(file=out), refresh_per_second=8, transient=False
        )
        self._live.start()

    def _table(self) -> Any:
        from rich.markup import escape
        from rich.table import Table

        table = Table(title="fine-tuning jobs", expand=False)
        for header in ("job", "status", "steps", "train loss", "ETA", "note"):
            table.add_column(header)
        for line in self._lines.values():  # server text is escaped: "[...]" is not markup
            style = _STATUS_STYLE.get(line.status, "")
            status = f"[{style}]{escape(line.status)}[/]" if style else escape(line.status)
            cells = (line.steps(), line.loss(), line.eta(), line.note)
            table.add_row(escape(line.job_id), status, *map(escape, cells))
        return table

    def update(self, line: JobLine) -> None:
        self._lines[line.job_id] = line
        self._live.update(self._table())

    def close(self) -> None:
        self._live.update(self._table())
        self._live.stop()


def make_display(job_ids: list[str], out: TextIO | None = None) -> Display:
    """A live table when ``out`` is a terminal and rich is installed, else plain lines."""
    stream = out or sys.stdout
    if stream.isatty():
        try:
            return LiveDisplay(job_ids, stream)
        except ImportError:
            pass
    return PlainDisplay(stream)

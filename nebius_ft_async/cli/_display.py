"""How the command line shows jobs: a live table on a terminal, plain lines elsewhere.

The live table needs ``rich`` (the ``cli`` extra); without it, or when the output is not a
terminal (piped, CI), each change is one plain line, so logs stay readable.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from typing import Any, Protocol, TextIO

from .._models import FineTuningJob


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
        if self.trained_steps is None and self.total_steps is None:
            return "-"
        return f"{self.trained_steps or 0}/{self.total_steps or '?'}"

    def loss(self) -> str:
        return "-" if self.train_loss is None else f"{self.train_loss:.4f}"

    def eta(self, now: float | None = None) -> str:
        if self.estimated_finish is None:
            return "-"
        seconds = int(self.estimated_finish - (time.time() if now is None else now))
        if seconds <= 0:
            return "any moment"
        minutes, seconds = divmod(seconds, 60)
        hours, minutes = divmod(minutes, 60)
        return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{seconds:02d}s"

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

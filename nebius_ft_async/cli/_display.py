"""How the command line shows jobs: a live table on a terminal, plain lines elsewhere.

The live table needs ``rich`` (the ``cli`` extra, see ``_live``); without it, when the output
is not a terminal (piped, CI) or the terminal cannot move its cursor (``TERM=dumb``), each
change of a job is one plain line as it happens, so logs stay readable. Log lines of the
library go through ``CliLogHandler``: above the live table while it is shown, else to stderr.

Numbers from the server are shown through the ``*_text`` helpers, which never raise: a value
that is missing or cannot be shown readably (a time outside the years 1 to 9999, NaN, an int
of 4000 digits, an ETA centuries away) is shown as ``PLACEHOLDER`` ("-"). ``--json`` output
keeps the raw numbers.
"""

from __future__ import annotations

import logging
import math
import os
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Protocol, TextIO

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

    @property
    def final(self) -> bool:
        """True once nothing will change: a final status, or the watch ended (a note)."""
        return self.status in FINAL_STATUSES or bool(self.note)

    def plain(self) -> str:
        parts = [self.job_id, self.status, f"steps {self.steps()}", f"loss {self.loss()}"]
        parts.append(f"eta {self.eta()}")
        if self.note:
            parts.append(self.note)
        return "  ".join(parts)


FINAL_STATUSES = frozenset({"succeeded", "failed", "cancelled"})
TIMED_OUT = "timed out"
"""The note of a job still going when the wait's timeout ran out."""
_SUMMARY_ORDER = (
    "running",
    "queued",
    "validating_files",
    "waiting",
    "succeeded",
    "failed",
    "cancelled",
    TIMED_OUT,
)


def summary_text(lines: Iterable[JobLine], now: float | None = None) -> str:
    """One line for many jobs: ``60 jobs: 35 running, 20 succeeded, 5 failed; last ETA 1h20m``.

    Jobs are counted by the status shown, those the timeout stopped as "timed out"; the ETA
    is the latest of the jobs still going.
    """
    lines = list(lines)
    counts = Counter(TIMED_OUT if line.note == TIMED_OUT else line.status for line in lines)
    named = [status for status in _SUMMARY_ORDER if counts[status]]
    named += sorted(status for status in counts if status not in _SUMMARY_ORDER)
    text = f"{len(lines)} job{'s' if len(lines) != 1 else ''}: "
    text += ", ".join(f"{counts[status]} {status}" for status in named)
    going = [line for line in lines if not line.final and line.estimated_finish is not None]
    if going:
        last = max(going, key=lambda line: line.estimated_finish or 0)
        text += f"; last ETA {last.eta(now)}"
    return text


class Display(Protocol):
    """Where ``jobs wait`` shows its jobs."""

    def update(self, line: JobLine) -> None: ...

    def close(self) -> None: ...


class PlainDisplay:
    """One line per change of a job (its status, steps, loss or note), then a summary."""

    def __init__(self, job_ids: list[str], out: TextIO) -> None:
        self._out = out
        self._lines = {job_id: JobLine(job_id) for job_id in job_ids}
        self._shown: dict[str, tuple[object, ...]] = {}

    def update(self, line: JobLine) -> None:
        self._lines[line.job_id] = line
        # the ETA alone changes with the clock: it is not a change worth a line
        key = (line.status, line.steps(), line.loss(), line.note)
        if self._shown.get(line.job_id) != key:
            self._shown[line.job_id] = key
            print(line.plain(), file=self._out, flush=True)

    def close(self) -> None:
        if len(self._lines) > 1:
            print(summary_text(self._lines.values()), file=self._out, flush=True)


def is_dumb_terminal() -> bool:
    """True when ``TERM`` says the terminal cannot move its cursor (``dumb``, ``unknown``)."""
    return os.environ.get("TERM", "").lower() in ("dumb", "unknown")


LOGGER_NAME = "nebius_ft_async"


class CliLogHandler(logging.Handler):
    """Writes the library's log records as ``nebius-ft: ...`` lines.

    They go to ``sys.stderr`` as it is when the record comes (not as it was when the handler
    was made), or to ``above`` while a live display prints them above itself.
    """

    def __init__(self) -> None:
        super().__init__()
        self.above: Callable[[str], None] | None = None

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = f"nebius-ft: {self.format(record)}"
            if self.above is not None:
                self.above(text)
            else:
                sys.stderr.write(text + "\n")
                sys.stderr.flush()
        except Exception:
            self.handleError(record)


def install_log_handler(verbose: bool) -> CliLogHandler:
    """Send the library's warnings (and with ``verbose`` each retry, INFO) to the CLI's
    handler only."""
    logger = logging.getLogger(LOGGER_NAME)
    for old in [h for h in logger.handlers if isinstance(h, CliLogHandler)]:
        logger.removeHandler(old)
    handler = CliLogHandler()
    logger.addHandler(handler)
    logger.setLevel(logging.INFO if verbose else logging.WARNING)
    logger.propagate = False
    return handler


@contextmanager
def logs_above(display: Display, stderr: TextIO | None = None) -> Iterator[None]:
    """While ``display`` is live and stderr is the same kind of terminal, log lines print
    above it instead of being written over it."""
    print_above = getattr(display, "print_above", None)
    err = stderr or sys.stderr
    handlers = [h for h in logging.getLogger(LOGGER_NAME).handlers if isinstance(h, CliLogHandler)]
    routed = print_above is not None and err.isatty()
    if routed:
        for handler in handlers:
            handler.above = print_above
    try:
        yield
    finally:
        if routed:
            for handler in handlers:
                handler.above = None

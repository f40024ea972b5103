"""What the commands that talk to the API share: options, ``--json`` output as the server
sent it, confirmation before a change, a progress bar while a file is on the wire.

A command group lives in its own module with one ``add_*`` function that adds its parser
(``_files_api``, ``_jobs_write``, ``_fake``); these helpers keep their flags and their
output alike.
"""

from __future__ import annotations

import argparse
import stat
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import anyio
import msgspec

from .._checks import positive_seconds
from .._datacheck import DataFileReport
from .._raw import RawResponse
from .._routes import Progress
from ._display import PLACEHOLDER, is_dumb_terminal

T = TypeVar("T")

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def timeout_option(parser: argparse.ArgumentParser) -> None:
    """``--timeout SECONDS``: the whole command gives up after that long (exit code 124)."""
    parser.add_argument(
        "--timeout",
        type=seconds,
        metavar="SECONDS",
        help="give up after this many seconds (exit code 124)",
    )


def interval_option(parser: argparse.ArgumentParser) -> None:
    """``--interval SECONDS`` between polls (default 5); ``_with_session`` refuses one below
    the session's ``min_poll_interval``."""
    parser.add_argument(
        "--interval",
        type=seconds,
        default=5.0,
        metavar="SECONDS",
        help="seconds between polls (at least 1 against a remote API)",
    )


def json_option(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument("--json", action="store_true", help=f"print {what} as the API sent it")


def project_option(parser: argparse.ArgumentParser, help: str) -> None:
    """``--ai-project-id PROJECT_ID``, for the commands whose calls work within a project."""
    parser.add_argument("--ai-project-id", metavar="PROJECT_ID", help=help)


def project_options(args: argparse.Namespace) -> dict[str, Any]:
    """The call options of ``project_option``: only when a project is given."""
    return {} if args.ai_project_id is None else {"ai_project_id": args.ai_project_id}


async def size_to_upload(path: Path) -> int | None:
    """The size of the file at ``path``, or ``None`` (said on stderr) when it is not a file
    to upload."""
    try:
        info = await anyio.Path(path).stat()
    except OSError as error:
        print(f"nebius-ft: cannot read {path}: {error.strerror or error}", file=sys.stderr)
        return None
    if not stat.S_ISREG(info.st_mode):
        print(f"nebius-ft: cannot upload {path}: not a file", file=sys.stderr)
        return None
    return info.st_size


def seconds(text: str) -> float:
    """An argparse type: a finite number of seconds above 0."""
    try:
        return positive_seconds("value", float(text))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"must be a finite number of seconds above 0, got {text!r}"
        ) from None


def whole_number(text: str) -> int:
    """An argparse type: a whole number of at least 1."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of at least 1, got {text!r}")
    return value


def print_json(value: Any) -> None:
    """One line of JSON (plain values, such as ``RawResponse.json()`` gives)."""
    print(msgspec.json.encode(value).decode(), flush=True)


def print_raw(response: RawResponse[Any]) -> None:
    """The body of an answer on one line, every field as the server sent it."""
    print_json(response.json())


def print_answer(response: RawResponse[T], as_json: bool, show: Callable[[T], None]) -> None:
    """An answer: as the server sent it with ``--json``, else ``show`` given its model."""
    if as_json:
        print_raw(response)
    else:
        show(response.parse())


def print_rows(rows: list[tuple[str, str]]) -> None:
    """``name  value`` lines, names aligned right."""
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:>{width}}  {value}")


def print_table(rows: list[list[str]], headers: list[str]) -> None:
    """Rows in columns under ``headers``."""
    widths = [max(len(row[i]) for row in [headers, *rows]) for i in range(len(headers))]
    for row in [headers, *rows]:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())


def confirm(question: str, *, yes: bool, refusal: str, declined: str) -> bool:
    """Whether to go ahead: ``yes``, or the user answers y to ``question`` on a terminal.

    Without a terminal on stdin nobody can answer, so this raises ``ValueError`` (a usage
    error, exit code 2): ``refusal`` and how to go ahead anyway (``--yes``). The question
    goes to stderr, so stdout keeps only the command's output; so does ``declined`` (what
    was not done) when the answer is no.
    """
    if yes:
        return True
    if not sys.stdin.isatty():
        raise ValueError(f"{refusal}: stdin is not a terminal to ask on; pass --yes")
    print(f"{question} [y/N] ", end="", file=sys.stderr, flush=True)
    if sys.stdin.readline().strip().lower() in ("y", "yes"):
        return True
    print(f"nebius-ft: {declined}", file=sys.stderr)
    return False


def can_draw() -> bool:
    """True when stderr is a terminal that can redraw a line and rich is installed."""
    if not sys.stderr.isatty() or is_dumb_terminal():
        return False
    try:
        import rich  # noqa: F401
    except ImportError:
        return False
    return True


@contextmanager
def spinner(text: str) -> Iterator[None]:
    """A spinner with ``text`` and the time spent on stderr while the block runs, on a
    terminal that can redraw; nothing otherwise (piped output stays plain)."""
    if not can_draw():
        yield
        return
    from rich.console import Console
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    columns = (SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True) as progress:
        progress.add_task(text, total=None)
        yield


@contextmanager
def transfer_bar(text: str) -> Iterator[Progress | None]:
    """A progress bar on stderr (bytes done of the total, speed, time left) while the block
    runs, on a terminal that can redraw: the ``on_progress`` to give the transfer. ``None``
    otherwise, and nothing is drawn."""
    with _bar(text, parts=False) as callbacks:
        yield None if callbacks is None else callbacks[0]


@contextmanager
def parts_bar(text: str, finishing: str) -> Iterator[tuple[Progress, Progress] | None]:
    """``transfer_bar`` with the parts done of the total beside the bytes: the
    ``on_progress`` and ``on_part`` to give ``upload_dataset`` (``None`` where nothing is
    drawn). Once every part is done, the bar says ``finishing`` instead of ``text``."""
    with _bar(text, parts=True, finishing=finishing) as callbacks:
        yield callbacks


@contextmanager
def _bar(
    text: str, *, parts: bool, finishing: str = ""
) -> Iterator[tuple[Progress, Progress] | None]:
    if not can_draw():
        yield None
        return
    from rich import progress as bars
    from rich.console import Console

    columns: list[str | bars.ProgressColumn] = [
        bars.TextColumn("{task.description}"),
        bars.BarColumn(),
        bars.DownloadColumn(),
    ]
    if parts:
        columns.append(bars.TextColumn("{task.fields[parts]}"))
    columns += [bars.TransferSpeedColumn(), bars.TimeRemainingColumn()]
    with bars.Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(text, total=None, parts="")

        def on_progress(done: int, total: int | None) -> None:
            bar.update(task, completed=done, total=total)

        def on_part(done: int, total: int | None) -> None:
            described = finishing if done == total else text
            bar.update(task, parts=f"parts {done}/{total}", description=described)

        yield on_progress, on_part


def size_text(count: int) -> str:
    """A byte count for people (``812 B``, ``1.5 MB``), or "-" when it cannot be one."""
    if isinstance(count, bool) or not isinstance(count, int) or not 0 <= count < 10**18:
        return PLACEHOLDER
    if count < 1000:
        return f"{count} B"
    amount, unit = count / 1000, "kB"
    for larger in ("MB", "GB", "TB"):
        if amount < 1000:
            break
        amount, unit = amount / 1000, larger
    return f"{amount:.1f} {unit}"


def print_data_report(report: DataFileReport) -> None:
    """The report of ``files check`` as lines."""
    kind = f"{report.format} data" if report.format else "no examples"
    print(
        f"{report.path}: {kind}, {report.examples:,} examples on {report.lines:,} lines, "
        f"about {report.approx_tokens:,} tokens"
    )
    if report.roles:
        print("roles: " + ", ".join(f"{role} {count:,}" for role, count in report.roles.items()))
    for problem in report.problems:
        where = f"line {problem.line}" if problem.line else "file"
        print(f"{where}: {problem.severity}: {problem.reason}")
    if report.problems_not_listed:
        print(f"... and {report.problems_not_listed:,} more (--max-problems lists more)")
    print(f"{_plural(report.errors, 'error')}, {_plural(report.warnings, 'warning')}")


def _plural(count: int, noun: str) -> str:
    return f"{count:,} {noun}" if count == 1 else f"{count:,} {noun}s"

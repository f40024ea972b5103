"""``nebius-ft files check PATH``: check a fine-tuning data file before uploading it.

Needs no API key and no network. Exit codes: 0 no errors (warnings allowed), 1 errors,
2 bad usage (no such file, an unreadable one).
"""

from __future__ import annotations

import argparse
import sys

import msgspec

from .._datacheck import (
    DEFAULT_MAX_LINE_BYTES,
    DEFAULT_MAX_PROBLEMS,
    DataFileReport,
    check_data_file,
)

EXIT_OK, EXIT_ERRORS, EXIT_USAGE = 0, 1, 2


def add_files_command(
    commands: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    """Add ``files check`` to the subcommands of ``nebius-ft`` (``common``: the options every
    command takes; this one needs no session, so it reads none of them)."""
    files = commands.add_parser(
        "files", help="check data files before uploading them", parents=[common]
    )
    actions = files.add_subparsers(dest="action", required=True, metavar="ACTION")
    check = actions.add_parser(
        "check",
        parents=[common],
        help="check a fine-tuning data file (JSON Lines), without uploading it",
        description="Check a fine-tuning data file line by line against the documented "
        "formats (conversational, instruction, text, pretokenized). Exits 1 on errors.",
    )
    check.add_argument("path")
    check.add_argument("--json", action="store_true", help="print the report as one JSON object")
    check.add_argument(
        "--max-problems",
        type=_count,
        default=DEFAULT_MAX_PROBLEMS,
        help=f"list at most this many problems (default {DEFAULT_MAX_PROBLEMS}; all are counted)",
    )
    check.add_argument(
        "--max-line-bytes",
        type=_count,
        default=DEFAULT_MAX_LINE_BYTES,
        help=f"skip and report longer lines (default {DEFAULT_MAX_LINE_BYTES:,})",
    )
    check.set_defaults(start=run_files)


def run_files(args: argparse.Namespace) -> int:
    """Run ``files check``; the exit code."""
    try:
        report = check_data_file(
            args.path, max_problems=args.max_problems, max_line_bytes=args.max_line_bytes
        )
    except OSError as error:
        print(f"nebius-ft: cannot read {args.path}: {error.strerror or error}", file=sys.stderr)
        return EXIT_USAGE
    if args.json:
        print(msgspec.json.encode(report).decode(), flush=True)
    else:
        _print_report(report)
    return EXIT_OK if report.ok else EXIT_ERRORS


def _count(text: str) -> int:
    """An argparse type: a whole number of at least 1."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of at least 1, got {text!r}")
    return value


def _print_report(report: DataFileReport) -> None:
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

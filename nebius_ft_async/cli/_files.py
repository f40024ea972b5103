"""``nebius-ft files check PATH``: check a fine-tuning data file before uploading it.

The other ``files`` actions (upload, list, get, download) are in ``_files_api``. ``check``
needs no API key and no network. Exit codes: 0 no errors (warnings allowed), 1 errors,
2 bad usage (no such file, an unreadable one).
"""

from __future__ import annotations

import argparse
import sys

import msgspec

from .._datacheck import (
    DEFAULT_MAX_LINE_BYTES,
    DEFAULT_MAX_PROBLEMS,
    check_data_file,
)
from ._files_api import add_file_actions
from ._shared import print_data_report, whole_number

EXIT_OK, EXIT_ERRORS, EXIT_USAGE = 0, 1, 2


def add_files_command(
    commands: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    """Add ``files`` to the subcommands of ``nebius-ft`` (``common``: the options every
    command takes; ``check`` needs no session, so it reads none of them)."""
    files = commands.add_parser(
        "files", help="check, upload, list and download data files", parents=[common]
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
        type=whole_number,
        default=DEFAULT_MAX_PROBLEMS,
        help=f"list at most this many problems (default {DEFAULT_MAX_PROBLEMS}; all are counted)",
    )
    check.add_argument(
        "--max-line-bytes",
        type=whole_number,
        default=DEFAULT_MAX_LINE_BYTES,
        help=f"skip and report longer lines (default {DEFAULT_MAX_LINE_BYTES:,})",
    )
    check.set_defaults(start=run_files)
    add_file_actions(actions, common)


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
        print_data_report(report)
    return EXIT_OK if report.ok else EXIT_ERRORS

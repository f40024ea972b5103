"""Pre-flight checks of fine-tuning data files, before they are uploaded.

A data file is JSON Lines: one example per line, in one of the formats Nebius documents
(``_dataformats``). The file is read line by line in binary and each line decoded with
msgspec, so memory stays bounded whatever the file size: a line longer than
``max_line_bytes`` is skipped (reported, not buffered), the problem list is capped, and the
counters are fixed-size. Once the file's format is known, a line is first decoded with that
format's typed decoder (``_datafast``); only a line that is not plainly clean takes the full
check, which says what is wrong. No I/O but reading the file; the check is synchronous CPU and
disk work, so async code runs it in a worker thread (``check_data_file_async``).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import BinaryIO

import msgspec

from ._checks import positive_count
from ._dataformats import (
    CHARS_PER_TOKEN,
    DataFormat,
    DataProblem,
    ExampleChecker,
    decode_json,
    show,
)

DEFAULT_MAX_PROBLEMS = 100
"""How many problems a report lists (all are counted)."""
DEFAULT_MAX_LINE_BYTES = 8 * 1024 * 1024
"""The longest line that is checked; a longer one is reported and skipped unread."""
MAX_FILE_BYTES = 50 * 1024**3
"""The largest dataset file the Nebius documentation allows (50 GB)."""
_CHUNK_BYTES = 1024 * 1024  # how far an over-long line is skipped at a time


class DataFileReport(msgspec.Struct, frozen=True, kw_only=True):
    """What ``check_data_file`` found.

    ``ok`` is true when there is no error (warnings allowed). ``format`` is the format of the
    first example (``None`` without one); ``examples`` counts the lines that hold an example
    of a documented format; ``roles`` counts messages per documented role;
    ``approx_tokens`` is a rough size (about four characters a token, or the number of
    ``token_ids``), not what the service will count. ``problems`` lists the first
    ``max_problems`` problems; ``errors`` and ``warnings`` count them all.
    """

    path: str
    ok: bool
    format: DataFormat | None
    lines: int
    examples: int
    roles: dict[str, int]
    approx_tokens: int
    errors: int
    warnings: int
    problems: list[DataProblem]

    @property
    def problems_not_listed(self) -> int:
        """How many problems were counted but not listed (over ``max_problems``)."""
        return self.errors + self.warnings - len(self.problems)


def check_data_file(
    path: str | os.PathLike[str],
    *,
    max_problems: int = DEFAULT_MAX_PROBLEMS,
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
) -> DataFileReport:
    """Check a fine-tuning data file (JSON Lines) line by line, in bounded memory.

    ::

        report = check_data_file("train.jsonl")
        for problem in report.problems:
            print(problem.line, problem.severity, problem.reason)

    Synchronous: from async code use ``check_data_file_async``. Raises ``ValueError`` for a
    path that is not a file or a limit below 1, and ``OSError`` if the file cannot be read.
    """
    return _check(path, max_problems, max_line_bytes, _no_stop)


async def check_data_file_async(
    path: str | os.PathLike[str],
    *,
    max_problems: int = DEFAULT_MAX_PROBLEMS,
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
) -> DataFileReport:
    """``check_data_file`` in a worker thread (``anyio.to_thread.run_sync``).

    Cancelling the caller stops the check within a megabyte of reading.
    """
    # imported on first use: importing the package does not need anyio's thread machinery
    import anyio.from_thread
    import anyio.to_thread

    check = functools.partial(
        _check, path, max_problems, max_line_bytes, anyio.from_thread.check_cancelled
    )
    return await anyio.to_thread.run_sync(check)


def _checked_path(path: str | os.PathLike[str]) -> str:
    if not isinstance(path, str | os.PathLike):
        raise ValueError(f"path must be a path to a file, got {path!r}")
    name = os.fspath(path)
    if not os.path.isfile(name):
        what = "a directory" if os.path.isdir(name) else "no file"
        raise ValueError(f"path must be a file to check; there is {what} at {name!r}")
    return name


def _no_stop() -> None:
    """Checks run to the end unless the async wrapper is cancelled."""


def _check(
    path: str | os.PathLike[str],
    max_problems: int,
    max_line_bytes: int,
    check_stop: Callable[[], None],
    *,
    fast: bool = True,
) -> DataFileReport:
    """The check; ``fast=False`` sends every line through the full check (for tests)."""
    name = _checked_path(path)
    positive_count("max_problems", max_problems)
    positive_count("max_line_bytes", max_line_bytes)
    checker = _Checker(max_problems, fast=fast)
    size = os.path.getsize(name)
    if size > MAX_FILE_BYTES:
        checker.error(0, f"the file is {size:,} bytes; the documented limit is 50 GB")
    with open(name, "rb") as file:
        checker.read(file, max_line_bytes, check_stop)
    if checker.examples == 0 and checker.errors == 0:
        checker.error(0, "the file holds no examples")
    return checker.report(name)


class _Checker(ExampleChecker):
    """One check of a file: reads it line by line, and builds the report."""

    def __init__(self, max_problems: int, *, fast: bool) -> None:
        super().__init__(max_problems)
        self.fast = fast
        self.lines = 0

    def report(self, path: str) -> DataFileReport:
        return DataFileReport(
            path=path,
            ok=self.errors == 0,
            format=self.format,
            lines=self.lines,
            examples=self.examples,
            roles={role: count for role, count in self.roles.items() if count},
            approx_tokens=self.tokens + self.chars // CHARS_PER_TOKEN,
            errors=self.errors,
            warnings=self.warnings,
            problems=self.problems,
        )

    def read(self, file: BinaryIO, max_line_bytes: int, check_stop: Callable[[], None]) -> None:
        unchecked = 0  # bytes read since check_stop was last called
        while raw := file.readline(max_line_bytes + 1):
            self.lines += 1
            unchecked += len(raw)
            if unchecked >= _CHUNK_BYTES:
                check_stop()
                unchecked = 0
            if len(raw) > max_line_bytes and not raw.endswith(b"\n"):
                length = len(raw) + _skip_line(file, check_stop)
                self.error(
                    self.lines,
                    f"the line is {length:,} bytes, over max_line_bytes "
                    f"({max_line_bytes:,}); it was not checked",
                )
                continue
            if self.lines == 1 and raw.startswith(b"\xef\xbb\xbf"):
                self.error(1, "the file starts with a byte order mark, which JSON Lines forbids")
                raw = raw[3:]
            self.line(self.lines, raw)

    def line(self, n: int, raw: bytes) -> None:
        if self.fast and self.format is not None and self.count_clean(raw):
            return
        if not raw.strip():
            self.error(n, "the line is blank; JSON Lines has one JSON object on every line")
            return
        try:
            example = decode_json(raw)
        except (msgspec.DecodeError, UnicodeDecodeError) as error:
            # msgspec before 0.23 raises UnicodeDecodeError for bad UTF-8, later ones DecodeError:
            # the bytes themselves say which it is
            offset = _utf8_error_offset(raw)
            if offset is not None:
                self.error(n, f"not valid UTF-8 (byte {offset + 1} of the line)")
            else:
                self.error(n, f"not valid JSON: {error}")
            return
        except RecursionError:
            self.error(n, "the JSON is nested too deeply to read")
            return
        if not isinstance(example, dict):
            self.error(n, f"the line must be a JSON object, got {show(example)}")
            return
        self.example(n, example)


def _skip_line(file: BinaryIO, check_stop: Callable[[], None]) -> int:
    """Read past the rest of an over-long line without keeping it; its remaining length
    (without the newline)."""
    skipped = 0
    while chunk := file.readline(_CHUNK_BYTES):
        check_stop()
        if chunk.endswith(b"\n"):
            return skipped + len(chunk) - 1
        skipped += len(chunk)
    return skipped


def _utf8_error_offset(raw: bytes) -> int | None:
    """Where ``raw`` stops being UTF-8 (0-based), or ``None`` if it is valid UTF-8."""
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as error:
        return error.start
    return None

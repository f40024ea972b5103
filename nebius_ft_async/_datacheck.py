"""Pre-flight checks of fine-tuning data files, before they are uploaded.

A data file is JSON Lines: one example per line, each a JSON object of one of the formats
Nebius documents (https://docs.tokenfactory.nebius.com/post-training/datasets)::

    conversational  {"messages": [{"role": "user", "content": "..."}, ...], "tools": [...]}
    instruction     {"prompt": "...", "completion": "..."}
    text            {"text": "..."}
    pretokenized    {"token_ids": [1, 2, 3], "labels": [-100, 2, 3]}

Only what that page documents is an error; keys it does not mention are warnings. The file is
read line by line in binary and each line decoded with one msgspec decoder, so memory stays
bounded whatever the file size: a line longer than ``max_line_bytes`` is skipped (reported,
not buffered), the problem list is capped, and the counters are fixed-size. No I/O but
reading the file; the check is synchronous CPU and disk work, so async code runs it in a
worker thread (``check_data_file_async``).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import Any, BinaryIO, Literal

import anyio
import anyio.from_thread
import anyio.to_thread
import msgspec

from ._checks import positive_count
from ._datafast import CleanChat, CleanInstruction, CleanText, blank, clean_example

DataFormat = Literal["conversational", "instruction", "text", "pretokenized"]
Severity = Literal["error", "warning"]

DEFAULT_MAX_PROBLEMS = 100
"""How many problems a report lists (all are counted)."""
DEFAULT_MAX_LINE_BYTES = 8 * 1024 * 1024
"""The longest line that is checked; a longer one is reported and skipped unread."""
MAX_FILE_BYTES = 50 * 1024**3
"""The largest dataset file the Nebius documentation allows (50 GB)."""
CHARS_PER_TOKEN = 4
"""The rough size of a token in characters, for ``approx_tokens``."""
ROLES = ("system", "user", "assistant", "tool")
"""The message roles of the documented conversational format."""

_CHUNK_BYTES = 1024 * 1024  # how far an over-long line is skipped at a time
_MAX_UNKNOWN_KEYS = 1000  # distinct unknown keys remembered, to report each once
_FORMAT_OF_KEY: dict[str, DataFormat] = {
    "messages": "conversational",
    "prompt": "instruction",
    "completion": "instruction",
    "text": "text",
    "token_ids": "pretokenized",
}
_KEYS: dict[DataFormat, frozenset[str]] = {
    "conversational": frozenset({"messages", "tools"}),
    "instruction": frozenset({"prompt", "completion"}),
    "text": frozenset({"text"}),
    "pretokenized": frozenset({"token_ids", "labels"}),
}
_MESSAGE_KEYS = frozenset({"role", "content", "tool_calls", "tool_call_id"})
_ROLE_SET = frozenset(ROLES)
_MASKED_LABEL = -100
_decode = msgspec.json.Decoder().decode


class DataProblem(msgspec.Struct, frozen=True, kw_only=True):
    """One problem in a data file: ``line`` is 1-based (0 for the file as a whole)."""

    line: int
    severity: Severity
    reason: str


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
    return _check(_checked_path(path), max_problems, max_line_bytes, _no_stop)


async def check_data_file_async(
    path: str | os.PathLike[str],
    *,
    max_problems: int = DEFAULT_MAX_PROBLEMS,
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
) -> DataFileReport:
    """``check_data_file`` in a worker thread (``anyio.to_thread.run_sync``).

    Cancelling the caller stops the check within a megabyte of reading.
    """
    name = _checked_path(path)
    positive_count("max_problems", max_problems)
    positive_count("max_line_bytes", max_line_bytes)
    check = functools.partial(
        _check, name, max_problems, max_line_bytes, anyio.from_thread.check_cancelled
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
    path: str,
    max_problems: int,
    max_line_bytes: int,
    check_stop: Callable[[], None],
    *,
    fast: bool = True,
) -> DataFileReport:
    """The check; ``fast=False`` sends every line through the full check (for tests)."""
    positive_count("max_problems", max_problems)
    positive_count("max_line_bytes", max_line_bytes)
    checker = _Checker(max_problems, fast=fast)
    size = os.path.getsize(path)
    if size > MAX_FILE_BYTES:
        checker.error(0, f"the file is {size:,} bytes; the documented limit is 50 GB")
    with open(path, "rb") as file:
        checker.read(file, max_line_bytes, check_stop)
    if checker.examples == 0 and checker.errors == 0:
        checker.error(0, "the file holds no examples")
    return checker.report(path)


class _Checker:
    """The running state of one check: counters, the capped problem list."""

    def __init__(self, max_problems: int, *, fast: bool) -> None:
        self.max_problems = max_problems
        self.fast = fast
        self.problems: list[DataProblem] = []
        self.errors = self.warnings = self.lines = self.examples = 0
        self.chars = self.tokens = 0
        self.roles = dict.fromkeys(ROLES, 0)
        self.format: DataFormat | None = None
        self.format_line = 0
        self.unknown_keys: set[tuple[str, str]] = set()

    def error(self, line: int, reason: str) -> None:
        self.errors += 1
        if len(self.problems) < self.max_problems:
            self.problems.append(DataProblem(line=line, severity="error", reason=reason))

    def warning(self, line: int, reason: str) -> None:
        self.warnings += 1
        if len(self.problems) < self.max_problems:
            self.problems.append(DataProblem(line=line, severity="warning", reason=reason))

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
            example = _decode(raw)
        except UnicodeDecodeError:
            self.error(n, f"not valid UTF-8 (byte {_utf8_error_offset(raw) + 1} of the line)")
            return
        except msgspec.DecodeError as error:
            self.error(n, f"not valid JSON: {error}")
            return
        except RecursionError:
            self.error(n, "the JSON is nested too deeply to read")
            return
        if not isinstance(example, dict):
            self.error(n, f"the line must be a JSON object, got {_show(example)}")
            return
        self.example(n, example)

    def count_clean(self, raw: bytes) -> bool:
        """Count a line of the file's format that has no problem (``_datafast``); false if
        it may have one."""
        assert self.format is not None
        example = clean_example(self.format, raw)
        if example is None:
            return False
        self.examples += 1
        if isinstance(example, CleanChat):
            roles, chars = self.roles, 0
            for message in example.messages:
                roles[message.role] += 1
                chars += len(message.content)
            self.chars += chars
        elif isinstance(example, CleanInstruction):
            self.chars += len(example.prompt) + len(example.completion)
        elif isinstance(example, CleanText):
            self.chars += len(example.text)
        else:
            self.tokens += len(example.token_ids)
        return True

    def example(self, n: int, example: dict[str, Any]) -> None:
        formats = sorted({_FORMAT_OF_KEY[key] for key in example if key in _FORMAT_OF_KEY})
        if not formats:
            self.error(
                n,
                "no messages, prompt and completion, text or token_ids: "
                "not an example of any documented format",
            )
            return
        if len(formats) > 1:
            self.error(n, f"the keys of several formats ({', '.join(formats)}); use one")
            return
        kind: DataFormat = formats[0]
        self.examples += 1
        if self.format is None:
            self.format, self.format_line = kind, n
        elif kind != self.format:
            self.error(
                n,
                f"{kind} data in a file of {self.format} data (since line "
                f"{self.format_line}); a file holds one format",
            )
        self.unknown(n, kind, example, _KEYS[kind])
        if kind == "conversational":
            self.conversation(n, example)
        elif kind == "pretokenized":
            self.pretokenized(n, example)
        else:
            for key in sorted(_KEYS[kind]):
                self.text_field(n, example, key)

    def unknown(self, n: int, where: str, value: dict[str, Any], known: frozenset[str]) -> None:
        """Warn of keys the documentation does not mention, each once per place."""
        for key in value:
            if key in known or (where, key) in self.unknown_keys:
                continue
            if len(self.unknown_keys) < _MAX_UNKNOWN_KEYS:
                self.unknown_keys.add((where, key))
            self.warning(
                n,
                f"key {_show(key)} is not part of the documented {where} format "
                "(reported once per file)",
            )

    def text_field(self, n: int, example: dict[str, Any], key: str) -> None:
        value = example.get(key)
        if not isinstance(value, str):
            self.error(n, f"{key} must be a string, got {_show(value)}")
        elif blank(value):
            self.warning(n, f"{key} is empty")
        else:
            self.chars += len(value)

    def pretokenized(self, n: int, example: dict[str, Any]) -> None:
        ids = example["token_ids"]
        if not isinstance(ids, list) or not ids:
            self.error(n, f"token_ids must be a non-empty list of token ids, got {_show(ids)}")
            return
        self.tokens += len(ids)
        bad = next((i for i, t in enumerate(ids) if type(t) is not int or t < 0), None)
        if bad is not None:
            self.error(n, f"token_ids[{bad}] must be a token id (0 or more), got {_show(ids[bad])}")
        labels = example.get("labels")
        if labels is None:
            return
        if not isinstance(labels, list):
            self.error(n, f"labels must be a list, one per token, got {_show(labels)}")
            return
        if len(labels) != len(ids):
            self.error(n, f"labels has {len(labels)} entries for {len(ids)} token_ids")
        bad = next(
            (
                i
                for i, label in enumerate(labels)
                if type(label) is not int or (label < 0 and label != _MASKED_LABEL)
            ),
            None,
        )
        if bad is not None:
            self.error(
                n, f"labels[{bad}] must be a token id or -100 (no loss), got {_show(labels[bad])}"
            )

    def conversation(self, n: int, example: dict[str, Any]) -> None:
        if "tools" in example:
            self.tools(n, example["tools"])
        messages = example["messages"]
        if not isinstance(messages, list) or not messages:
            self.error(n, f"messages must be a non-empty list, got {_show(messages)}")
            return
        call_ids: set[str] = set()
        for i, message in enumerate(messages):
            self.message(n, f"messages[{i}]", message, call_ids)
        last = messages[-1]
        if not isinstance(last, dict):
            return
        if last.get("role") != "assistant":
            self.error(
                n,
                "the last message must be the assistant's answer, "
                f"but its role is {_show(last.get('role'))}",
            )
        elif not isinstance(last.get("content"), str) or blank(last["content"]):
            self.warning(n, "the last message has no answer in content (only a tool call?)")

    def message(self, n: int, where: str, message: Any, call_ids: set[str]) -> None:
        if not isinstance(message, dict):
            self.error(n, f"{where} must be an object with role and content, got {_show(message)}")
            return
        self.unknown(n, "message", message, _MESSAGE_KEYS)
        role = message.get("role")
        if isinstance(role, str) and role in _ROLE_SET:
            self.roles[role] += 1
        elif role is None:
            self.error(n, f"{where} has no role")
        else:
            self.error(n, f"{where}.role must be one of {', '.join(ROLES)}, got {_show(role)}")
        calls = message.get("tool_calls")
        if calls is not None:
            if role == "assistant":
                self.tool_calls(n, where, calls, call_ids)
            else:
                self.error(n, f"{where} has tool_calls, which only assistant messages make")
        content = message.get("content")
        if isinstance(content, str):
            self.chars += len(content)
        elif content is None:
            if calls is None or role != "assistant":
                self.error(n, f"{where} has no content")
        elif isinstance(content, list):
            self.warning(n, f"{where}.content is a list; the documented content is a string")
        else:
            self.error(n, f"{where}.content must be a string, got {_show(content)}")
        if role == "tool":
            call_id = message.get("tool_call_id")
            if call_id is None:
                self.warning(n, f"{where} is a tool result without a tool_call_id")
            elif not isinstance(call_id, str) or call_id not in call_ids:
                self.warning(
                    n, f"{where}.tool_call_id {_show(call_id)} answers no earlier tool call"
                )

    def tool_calls(self, n: int, where: str, calls: Any, call_ids: set[str]) -> None:
        if not isinstance(calls, list) or not calls:
            self.error(n, f"{where}.tool_calls must be a non-empty list, got {_show(calls)}")
            return
        for j, call in enumerate(calls):
            at = f"{where}.tool_calls[{j}]"
            if not isinstance(call, dict):
                self.error(n, f"{at} must be an object, got {_show(call)}")
                continue
            call_id = call.get("id")
            if isinstance(call_id, str):
                call_ids.add(call_id)
            else:
                self.error(n, f"{at}.id must be a string, got {_show(call_id)}")
            if call.get("type", "function") != "function":
                self.error(n, f"{at}.type must be 'function', got {_show(call['type'])}")
            function = call.get("function")
            if not isinstance(function, dict):
                self.error(n, f"{at}.function must be an object, got {_show(function)}")
                continue
            name, arguments = function.get("name"), function.get("arguments")
            if not isinstance(name, str) or not name:
                self.error(n, f"{at}.function.name must be a non-empty string, got {_show(name)}")
            else:
                self.chars += len(name)
            if not isinstance(arguments, str):
                self.error(
                    n, f"{at}.function.arguments must be a JSON string, got {_show(arguments)}"
                )
                continue
            self.chars += len(arguments)
            try:
                _decode(arguments)
            except (msgspec.DecodeError, RecursionError):
                self.warning(n, f"{at}.function.arguments is not valid JSON")

    def tools(self, n: int, tools: Any) -> None:
        if not isinstance(tools, list):
            self.error(n, f"tools must be a list of tool definitions, got {_show(tools)}")
            return
        for k, tool in enumerate(tools):
            function = tool.get("function") if isinstance(tool, dict) else None
            if not isinstance(function, dict) or not isinstance(function.get("name"), str):
                self.error(n, f"tools[{k}] must be an object with a function and its name")
        # the chat template writes the definitions into the prompt
        self.chars += len(msgspec.json.encode(tools))


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


def _utf8_error_offset(raw: bytes) -> int:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as error:
        return error.start
    return 0


def _show(value: Any) -> str:
    """A short description of a JSON value for a problem's reason (never a huge repr)."""
    if isinstance(value, str):
        return repr(value) if len(value) <= 40 else repr(value[:40]) + "..."
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) or (isinstance(value, int) and abs(value) < 10**18):
        return repr(value)
    if isinstance(value, int):
        return "a very large number"
    return "a list" if isinstance(value, list) else "an object"

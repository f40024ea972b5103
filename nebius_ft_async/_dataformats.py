"""The documented formats of fine-tuning examples, and the rules that check one example.

Nebius documents four formats (https://docs.tokenfactory.nebius.com/post-training/datasets),
one JSON object per line::

    conversational  {"messages": [{"role": "user", "content": "..."}, ...], "tools": [...]}
    instruction     {"prompt": "...", "completion": "..."}
    text            {"text": "..."}
    pretokenized    {"token_ids": [1, 2, 3], "labels": [-100, 2, 3]}

Only what that page documents is an error; keys it does not mention are warnings. Pure: the
rules see decoded JSON values and record problems and counts, nothing else.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

from ._datafast import CleanChat, CleanInstruction, CleanText, blank, clean_example

DataFormat = Literal["conversational", "instruction", "text", "pretokenized"]
Severity = Literal["error", "warning"]

CHARS_PER_TOKEN = 4
"""The rough size of a token in characters, for ``approx_tokens``."""
ROLES = ("system", "user", "assistant", "tool")
"""The message roles of the documented conversational format."""

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
decode_json = msgspec.json.Decoder().decode  # any JSON value; the rules look at its shape


class DataProblem(msgspec.Struct, frozen=True, kw_only=True):
    """One problem in a data file: ``line`` is 1-based (0 for the file as a whole)."""

    line: int
    severity: Severity
    reason: str


class ExampleChecker:
    """The rules, and the running state of one check: counters, the capped problem list."""

    def __init__(self, max_problems: int) -> None:
        self.max_problems = max_problems
        self.problems: list[DataProblem] = []
        self.errors = self.warnings = self.examples = 0
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
                f"key {show(key)} is not part of the documented {where} format "
                "(reported once per file)",
            )

    def text_field(self, n: int, example: dict[str, Any], key: str) -> None:
        value = example.get(key)
        if not isinstance(value, str):
            self.error(n, f"{key} must be a string, got {show(value)}")
        elif blank(value):
            self.warning(n, f"{key} is empty")
        else:
            self.chars += len(value)

    def pretokenized(self, n: int, example: dict[str, Any]) -> None:
        ids = example["token_ids"]
        if not isinstance(ids, list) or not ids:
            self.error(n, f"token_ids must be a non-empty list of token ids, got {show(ids)}")
            return
        self.tokens += len(ids)
        bad = next((i for i, t in enumerate(ids) if type(t) is not int or t < 0), None)
        if bad is not None:
            self.error(n, f"token_ids[{bad}] must be a token id (0 or more), got {show(ids[bad])}")
        labels = example.get("labels")
        if labels is None:
            return
        if not isinstance(labels, list):
            self.error(n, f"labels must be a list, one per token, got {show(labels)}")
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
                n, f"labels[{bad}] must be a token id or -100 (no loss), got {show(labels[bad])}"
            )

    def conversation(self, n: int, example: dict[str, Any]) -> None:
        if "tools" in example:
            self.tools(n, example["tools"])
        messages = example["messages"]
        if not isinstance(messages, list) or not messages:
            self.error(n, f"messages must be a non-empty list, got {show(messages)}")
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
                f"but its role is {show(last.get('role'))}",
            )
        elif not isinstance(last.get("content"), str) or blank(last["content"]):
            self.warning(n, "the last message has no answer in content (only a tool call?)")

    def message(self, n: int, where: str, message: Any, call_ids: set[str]) -> None:
        if not isinstance(message, dict):
            self.error(n, f"{where} must be an object with role and content, got {show(message)}")
            return
        self.unknown(n, "message", message, _MESSAGE_KEYS)
        role = message.get("role")
        if isinstance(role, str) and role in _ROLE_SET:
            self.roles[role] += 1
        elif role is None:
            self.error(n, f"{where} has no role")
        else:
            self.error(n, f"{where}.role must be one of {', '.join(ROLES)}, got {show(role)}")
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
            self.error(n, f"{where}.content must be a string, got {show(content)}")
        if role == "tool":
            call_id = message.get("tool_call_id")
            if call_id is None:
                self.warning(n, f"{where} is a tool result without a tool_call_id")
            elif not isinstance(call_id, str) or call_id not in call_ids:
                self.warning(
                    n, f"{where}.tool_call_id {show(call_id)} answers no earlier tool call"
                )

    def tool_calls(self, n: int, where: str, calls: Any, call_ids: set[str]) -> None:
        if not isinstance(calls, list) or not calls:
            self.error(n, f"{where}.tool_calls must be a non-empty list, got {show(calls)}")
            return
        for j, call in enumerate(calls):
            at = f"{where}.tool_calls[{j}]"
            if not isinstance(call, dict):
                self.error(n, f"{at} must be an object, got {show(call)}")
                continue
            call_id = call.get("id")
            if isinstance(call_id, str):
                call_ids.add(call_id)
            else:
                self.error(n, f"{at}.id must be a string, got {show(call_id)}")
            if call.get("type", "function") != "function":
                self.error(n, f"{at}.type must be 'function', got {show(call['type'])}")
            function = call.get("function")
            if not isinstance(function, dict):
                self.error(n, f"{at}.function must be an object, got {show(function)}")
                continue
            name, arguments = function.get("name"), function.get("arguments")
            if not isinstance(name, str) or not name:
                self.error(n, f"{at}.function.name must be a non-empty string, got {show(name)}")
            else:
                self.chars += len(name)
            if not isinstance(arguments, str):
                self.error(
                    n, f"{at}.function.arguments must be a JSON string, got {show(arguments)}"
                )
                continue
            self.chars += len(arguments)
            try:
                decode_json(arguments)
            except (msgspec.DecodeError, RecursionError):
                self.warning(n, f"{at}.function.arguments is not valid JSON")

    def tools(self, n: int, tools: Any) -> None:
        if not isinstance(tools, list):
            self.error(n, f"tools must be a list of tool definitions, got {show(tools)}")
            return
        for k, tool in enumerate(tools):
            function = tool.get("function") if isinstance(tool, dict) else None
            if not isinstance(function, dict) or not isinstance(function.get("name"), str):
                self.error(n, f"tools[{k}] must be an object with a function and its name")
        # the chat template writes the definitions into the prompt
        self.chars += len(msgspec.json.encode(tools))


def show(value: Any) -> str:
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

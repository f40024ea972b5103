"""check_data_file: every kind of problem at its line, bounded memory, the CLI command."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
import tracemalloc
from pathlib import Path
from typing import Any

import anyio
import anyio.lowlevel
import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nebius_ft_async import (
    DataFileReport,
    check_data_file,
    check_data_file_async,
)
from nebius_ft_async._datacheck import _check

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
MiB = 1024 * 1024

CHAT = {
    "messages": [
        {"role": "system", "content": "You are a friendly dinner planner."},
        {"role": "user", "content": "What's for dinner tonight?"},
        {"role": "assistant", "content": "Then let's try a new pasta!"},
    ]
}
TOOLS_CHAT = {
    "tools": [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "Get the current weather in a city.",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
            },
        }
    ],
    "messages": [
        {"role": "user", "content": "What's the weather in Amsterdam?"},
        {
            "role": "assistant",
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Amsterdam"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": '{"temp_c": 14}'},
        {"role": "assistant", "content": "It is 14 degrees in Amsterdam."},
    ],
}


def jsonl(*examples: Any) -> bytes:
    return b"".join(
        (example if isinstance(example, bytes) else json.dumps(example).encode()) + b"\n"
        for example in examples
    )


def check_bytes(tmp_path: Path, data: bytes, **options: Any) -> DataFileReport:
    path = tmp_path / "data.jsonl"
    path.write_bytes(data)
    return check_data_file(path, **options)


def messages(*pairs: tuple[str, Any]) -> dict[str, Any]:
    return {"messages": [{"role": role, "content": content} for role, content in pairs]}


def test_documented_examples_pass_with_a_summary(tmp_path: Path) -> None:
    report = check_bytes(tmp_path, jsonl(CHAT, TOOLS_CHAT, CHAT))
    assert report.ok and report.problems == [] and report.errors == report.warnings == 0
    assert report.format == "conversational"
    assert (report.lines, report.examples) == (3, 3)
    assert report.roles == {"system": 2, "user": 3, "assistant": 4, "tool": 1}
    assert 50 < report.approx_tokens < 150
    assert report.path == str(tmp_path / "data.jsonl")


@pytest.mark.parametrize(
    ("example", "data_format", "tokens"),
    [  # tokens of two examples: characters / 4, or the token_ids
        ({"prompt": "Capital of Australia", "completion": "Canberra"}, "instruction", 56 // 4),
        ({"text": "user: Can I open a bank account?\n assistant: Sure!"}, "text", 102 // 4),
        ({"token_ids": [1, 2, 3, 4], "labels": [-100, -100, 3, 4]}, "pretokenized", 8),
        ({"token_ids": [5, 6]}, "pretokenized", 4),
    ],
)
def test_other_documented_formats(
    tmp_path: Path, example: dict[str, Any], data_format: str, tokens: int
) -> None:
    report = check_bytes(tmp_path, jsonl(example, example))
    assert report.ok and report.problems == []
    assert report.format == data_format and report.examples == 2
    assert report.approx_tokens == tokens
    assert report.roles == {}


GOOD = jsonl(CHAT)

# (the file's bytes, the problem expected as (line, severity, a piece of the reason))
CASES: dict[str, tuple[bytes, tuple[int, str, str]]] = {
    "blank line": (GOOD + b"\n" + GOOD, (2, "error", "blank")),
    "whitespace line": (GOOD + b"  \t\r\n" + GOOD, (2, "error", "blank")),
    "not JSON": (GOOD + GOOD + b"{'messages': []}\n", (3, "error", "not valid JSON")),
    "cut JSON": (GOOD + b'{"text": "abc\n', (2, "error", "not valid JSON")),
    "two objects": (GOOD + b'{"text": "a"}{"text": "b"}\n', (2, "error", "trailing characters")),
    "not UTF-8": (GOOD + b'{"text": "caf\xe9"}\n', (2, "error", "not valid UTF-8 (byte 14")),
    "not UTF-8, cut": (GOOD + b'{"text": "\xff\n', (2, "error", "not valid UTF-8 (byte 11")),
    "byte order mark": (b"\xef\xbb\xbf" + GOOD, (1, "error", "byte order mark")),
    "lone surrogate": (GOOD + b'{"text": "a\\udc00"}\n', (2, "error", "not valid JSON")),
    "deep nesting": (GOOD + b"[" * 100_000 + b"\n", (2, "error", "nested too deeply")),
    "a list": (GOOD + b"[1, 2]\n", (2, "error", "must be a JSON object, got a list")),
    "a string": (GOOD + b'"hi"\n', (2, "error", "must be a JSON object, got 'hi'")),
    "no format": (jsonl(CHAT, {"question": "q"}), (2, "error", "not an example of any")),
    "two formats": (jsonl({"text": "t", "prompt": "p"}), (1, "error", "instruction, text")),
    "mixed formats": (jsonl(CHAT, CHAT, {"text": "t"}), (3, "error", "since line 1")),
    "unknown key": (jsonl({"text": "t", "id": 7}), (1, "warning", "key 'id' is not part")),
    "messages not a list": (jsonl({"messages": "hi"}), (1, "error", "non-empty list")),
    "messages empty": (jsonl({"messages": []}), (1, "error", "non-empty list")),
    "message not object": (jsonl({"messages": ["hi"]}), (1, "error", "messages[0] must be")),
    "no role": (jsonl({"messages": [{"content": "x"}]}), (1, "error", "messages[0] has no role")),
    "bad role": (
        jsonl(messages(("user", "q"), ("bot", "a"), ("assistant", "b"))),
        (1, "error", "messages[1].role must be one of system, user, assistant, tool, got 'bot'"),
    ),
    "role not text": (jsonl(messages((["user"], "q"))), (1, "error", "got a list")),
    "no content": (jsonl({"messages": [{"role": "user"}]}), (1, "error", "has no content")),
    "content number": (
        jsonl(messages(("user", 42), ("assistant", "a"))),
        (1, "error", "messages[0].content must be a string, got 42"),
    ),
    "content parts": (
        jsonl(messages(("user", [{"type": "text", "text": "q"}]), ("assistant", "a"))),
        (1, "warning", "content is a list"),
    ),
    "last not assistant": (
        jsonl(messages(("user", "q"))),
        (1, "error", "the last message must be the assistant's answer, but its role is 'user'"),
    ),
    "last is a tool call": (
        jsonl({"messages": [*TOOLS_CHAT["messages"][:2]]}),
        (1, "warning", "no answer in content"),
    ),
    "message weight": (
        jsonl({"messages": [{"role": "user", "content": "q"}, {**CHAT["messages"][2], "w": 1}]}),
        (1, "warning", "key 'w' is not part of the documented message format"),
    ),
    "tool_calls on user": (
        jsonl({"messages": [{**CHAT["messages"][1], "tool_calls": []}, CHAT["messages"][2]]}),
        (1, "error", "only assistant messages"),
    ),
    "tool_calls empty": (
        jsonl({"messages": [CHAT["messages"][1], {"role": "assistant", "tool_calls": []}]}),
        (1, "error", "tool_calls must be a non-empty list"),
    ),
    "arguments not a string": (
        jsonl(
            {
                "messages": [
                    CHAT["messages"][1],
                    {
                        "role": "assistant",
                        "tool_calls": [{"id": "c", "function": {"name": "f", "arguments": {}}}],
                    },
                    CHAT["messages"][2],
                ]
            }
        ),
        (1, "error", "messages[1].tool_calls[0].function.arguments must be a JSON string"),
    ),
    "arguments not JSON": (
        jsonl(
            {
                "messages": [
                    CHAT["messages"][1],
                    {
                        "role": "assistant",
                        "tool_calls": [{"id": "c", "function": {"name": "f", "arguments": "{"}}],
                    },
                    CHAT["messages"][2],
                ]
            }
        ),
        (1, "warning", "arguments is not valid JSON"),
    ),
    "call without id or name": (
        jsonl(
            {
                "messages": [
                    CHAT["messages"][1],
                    {"role": "assistant", "tool_calls": [{"function": {"arguments": "{}"}}]},
                    CHAT["messages"][2],
                ]
            }
        ),
        (1, "error", "tool_calls[0].id must be a string, got null"),
    ),
    "call of another type": (
        jsonl(
            {
                "messages": [
                    CHAT["messages"][1],
                    {
                        "role": "assistant",
                        "tool_calls": [
                            {"id": "c", "type": "web", "function": {"name": "f", "arguments": ""}}
                        ],
                    },
                    CHAT["messages"][2],
                ]
            }
        ),
        (1, "error", "type must be 'function', got 'web'"),
    ),
    "tool result for no call": (
        jsonl(
            {
                "messages": [
                    *TOOLS_CHAT["messages"][:2],
                    {"role": "tool", "tool_call_id": "call_9", "content": "x"},
                    CHAT["messages"][2],
                ]
            }
        ),
        (1, "warning", "tool_call_id 'call_9' answers no earlier tool call"),
    ),
    "tool result without id": (
        jsonl(
            {
                "messages": [
                    *CHAT["messages"][:2],
                    {"role": "tool", "content": "x"},
                    CHAT["messages"][2],
                ]
            }
        ),
        (1, "warning", "without a tool_call_id"),
    ),
    "tools not a list": (jsonl({**CHAT, "tools": {}}), (1, "error", "tools must be a list")),
    "tool without name": (
        jsonl({**CHAT, "tools": [{"type": "function", "function": {}}]}),
        (1, "error", "tools[0] must be an object with a function and its name"),
    ),
    "prompt missing": (jsonl({"completion": "c"}), (1, "error", "prompt must be a string")),
    "completion number": (
        jsonl({"prompt": "p", "completion": 3}),
        (1, "error", "completion must be a string, got 3"),
    ),
    "completion empty": (jsonl({"prompt": "p", "completion": " "}), (1, "warning", "empty")),
    "text null": (jsonl({"text": None}), (1, "error", "text must be a string, got null")),
    "text empty": (jsonl({"text": ""}), (1, "warning", "text is empty")),
    "token_ids empty": (jsonl({"token_ids": []}), (1, "error", "non-empty list of token ids")),
    "token id negative": (
        jsonl({"token_ids": [1, -2]}),
        (1, "error", "token_ids[1] must be a token id (0 or more), got -2"),
    ),
    "token id float": (jsonl({"token_ids": [1.5]}), (1, "error", "got 1.5")),
    "token id bool": (jsonl({"token_ids": [True]}), (1, "error", "got true")),
    "labels too short": (
        jsonl({"token_ids": [1, 2], "labels": [1]}),
        (1, "error", "labels has 1 entries for 2 token_ids"),
    ),
    "label masked wrong": (
        jsonl({"token_ids": [1, 2], "labels": [-1, 2]}),
        (1, "error", "labels[0] must be a token id or -100"),
    ),
    "labels not a list": (
        jsonl({"token_ids": [1], "labels": "x"}),
        (1, "error", "labels must be a list"),
    ),
    "empty file": (b"", (0, "error", "holds no examples")),
    "long line": (GOOD + b'{"text": "' + b"x" * 2000 + b'"}\n', (2, "error", "2,012 bytes")),
}


@pytest.mark.parametrize("case", CASES)
def test_each_problem_is_reported_at_its_line(tmp_path: Path, case: str) -> None:
    data, (line, severity, reason) = CASES[case]
    report = check_bytes(tmp_path, data, max_line_bytes=1024 if case == "long line" else 10**6)
    matching = [p for p in report.problems if p.line == line and reason in p.reason]
    assert matching, report.problems
    assert matching[0].severity == severity
    assert report.ok is (report.errors == 0)
    if severity == "error":
        assert not report.ok


def test_crlf_and_a_missing_final_newline_are_fine(tmp_path: Path) -> None:
    data = json.dumps(CHAT).encode() + b"\r\n" + json.dumps(CHAT).encode()
    report = check_bytes(tmp_path, data)
    assert report.ok and report.problems == [] and report.examples == 2


def test_unknown_keys_are_reported_once_per_file(tmp_path: Path) -> None:
    report = check_bytes(tmp_path, jsonl(*[{"text": "t", "id": i} for i in range(5)]))
    assert report.ok and report.warnings == 1 and report.problems[0].line == 1


def test_problems_are_capped_but_all_counted(tmp_path: Path) -> None:
    report = check_bytes(tmp_path, b"{}\n" * 50 + b"nope\n" * 30, max_problems=10)
    assert len(report.problems) == 10 and [p.line for p in report.problems] == list(range(1, 11))
    assert report.errors == 80 and report.problems_not_listed == 70


def test_a_line_just_under_the_limit_is_checked(tmp_path: Path) -> None:
    line = b'{"text": "' + b"x" * 88 + b'"}'
    assert len(line) == 100
    report = check_bytes(tmp_path, line + b"\n" + line, max_line_bytes=100)
    assert report.ok and report.examples == 2
    report = check_bytes(tmp_path, line + b"\n" + line, max_line_bytes=99)
    assert [(p.line, p.reason[:21]) for p in report.problems] == [
        (1, "the line is 100 bytes"),
        (2, "the line is 100 bytes"),
    ]


def test_inputs_are_validated(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"path must be a file.*no file at"):
        check_data_file(tmp_path / "missing.jsonl")
    with pytest.raises(ValueError, match=r"path must be a file.*a directory"):
        check_data_file(tmp_path)
    with pytest.raises(ValueError, match="path must be a path"):
        check_data_file(3)  # type: ignore[arg-type]
    (tmp_path / "ok.jsonl").write_bytes(GOOD)
    for bad in (0, -1, True, 2.5):
        with pytest.raises(ValueError, match="max_problems"):
            check_data_file(tmp_path / "ok.jsonl", max_problems=bad)  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="max_line_bytes"):
            check_data_file(tmp_path / "ok.jsonl", max_line_bytes=bad)  # type: ignore[arg-type]


def write_huge_line_file(path: Path, line_bytes: int) -> None:
    with path.open("wb") as file:
        file.write(GOOD + b'{"text": "')
        block = b"y" * MiB
        for _ in range(line_bytes // MiB):
            file.write(block)
        file.write(b'"}\n' + GOOD)


def test_memory_stays_bounded_on_a_50_mb_line(tmp_path: Path) -> None:
    path = tmp_path / "huge.jsonl"
    write_huge_line_file(path, 50 * MiB)
    tracemalloc.start()
    try:
        report = check_data_file(path, max_line_bytes=MiB)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert report.examples == 2 and report.lines == 3
    assert [p.line for p in report.problems] == [2]
    assert f"{50 * MiB + 12:,} bytes" in report.problems[0].reason
    assert peak < 8 * MiB  # a few times max_line_bytes: the 50 MB line was never held


def test_memory_does_not_grow_with_the_number_of_problems(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_bytes(b"".join(b'{"text": 1, "k%d": 0}\n' % i for i in range(20_000)))
    tracemalloc.start()
    try:
        report = check_data_file(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert report.errors == 20_000 and report.warnings == 20_000 and len(report.problems) == 100
    assert peak < 2 * MiB


# --- property: files made of valid examples of one format have no errors ---

texts = st.text(st.characters(exclude_categories=["Cs"]), min_size=1).filter(
    lambda text: text.strip() != ""
)
tool_call_ids = st.text(alphabet="abcdefghij0123456789_", min_size=1, max_size=8)


@st.composite
def conversations(draw: st.DrawFn) -> dict[str, Any]:
    turns: list[dict[str, Any]] = []
    if draw(st.booleans()):
        turns.append({"role": "system", "content": draw(texts)})
    for _ in range(draw(st.integers(1, 3))):
        turns.append({"role": "user", "content": draw(texts)})
        if draw(st.booleans()):
            call_id = draw(tool_call_ids)
            arguments = json.dumps(draw(st.dictionaries(st.text(), st.integers())))
            call = {"id": call_id, "type": "function"}
            call["function"] = {"name": draw(texts), "arguments": arguments}  # type: ignore[assignment]
            turns.append({"role": "assistant", "tool_calls": [call]})
            turns.append({"role": "tool", "tool_call_id": call_id, "content": draw(texts)})
        turns.append({"role": "assistant", "content": draw(texts)})
    return {"messages": turns}


token_ids = st.lists(st.integers(0, 200_000), min_size=1, max_size=50)


@st.composite
def pretokenized(draw: st.DrawFn) -> dict[str, Any]:
    ids = draw(token_ids)
    example: dict[str, Any] = {"token_ids": ids}
    if draw(st.booleans()):
        example["labels"] = [draw(st.sampled_from([token, -100])) for token in ids]
    return example


valid_formats = [
    conversations(),
    st.fixed_dictionaries({"prompt": texts, "completion": texts}),
    st.fixed_dictionaries({"text": texts}),
    pretokenized(),
]
data_formats = st.one_of(valid_formats)


@settings(max_examples=60, deadline=None)
@given(data=st.data(), ensure_ascii=st.booleans(), crlf=st.booleans())
def test_valid_files_have_no_errors(data: st.DataObject, ensure_ascii: bool, crlf: bool) -> None:
    strategy = data.draw(st.sampled_from(valid_formats))
    examples = data.draw(st.lists(strategy, min_size=1, max_size=8))
    end = "\r\n" if crlf else "\n"
    text = "".join(json.dumps(e, ensure_ascii=ensure_ascii) + end for e in examples)
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "valid.jsonl"
        path.write_bytes(text.encode())
        report = check_data_file(path)
    assert report.errors == 0, report.problems
    assert report.examples == len(examples) == report.lines


# --- property: the fast path (typed decoders) and the full check give the same report ---

extra_keys = st.dictionaries(st.sampled_from(["id", "weight", "text", "tool_call_id"]), texts)
# mostly clean, so that whole clean lines and lines with one flaw are both common
odd_texts = st.one_of(*[texts] * 6, st.sampled_from(["", " ", "\n\t"]), st.none(), st.integers())
roles = st.sampled_from(["system", "user", "user", "assistant", "assistant", "tool", "bot", 3])
sometimes_extra_keys = st.one_of(*[st.just({})] * 4, extra_keys)


@st.composite
def near_examples(draw: st.DrawFn, kind: str) -> Any:
    """Examples of ``kind`` that are valid, or nearly: odd roles and contents, blanks, extra
    keys; now and then one of another kind or no example at all."""
    kind = draw(st.sampled_from([kind] * 8 + ["valid", "other"]))
    if kind == "valid":
        return draw(data_formats)
    if kind == "other":
        return draw(st.one_of(st.integers(), st.lists(st.integers(), max_size=2), extra_keys))
    if kind == "chat":
        message = st.builds(
            lambda role, content, extra: {"role": role, "content": content, **extra},
            roles,
            odd_texts,
            sometimes_extra_keys,
        )
        example: dict[str, Any] = {"messages": draw(st.lists(message, max_size=4))}
    elif kind == "instruction":
        example = {"prompt": draw(odd_texts), "completion": draw(odd_texts)}
    elif kind == "text":
        example = {"text": draw(odd_texts)}
    else:
        ids = draw(st.lists(st.one_of(*[st.integers(0, 300)] * 5, st.just(-1)), max_size=6))
        example = {"token_ids": ids}
        if draw(st.booleans()):
            example["labels"] = draw(st.lists(st.integers(-101, 300), max_size=6))
        elif draw(st.booleans()):
            example["labels"] = [draw(st.sampled_from([i, -100, -100, -1, -101])) for i in ids]
    example.update(draw(sometimes_extra_keys))
    return example


@settings(max_examples=300, deadline=None)
@given(data=st.data(), kind=st.sampled_from(["chat", "instruction", "text", "tokens"]))
def test_the_fast_path_gives_the_full_checks_report(data: st.DataObject, kind: str) -> None:
    examples = data.draw(st.lists(near_examples(kind), min_size=1, max_size=8))
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "data.jsonl"
        path.write_bytes(jsonl(*examples))
        fast = _check(path, 1000, MiB, lambda: None)
        full = _check(path, 1000, MiB, lambda: None, fast=False)
    assert fast == full


@pytest.mark.parametrize("case", CASES)
def test_the_fast_path_gives_the_full_checks_report_on_each_problem(
    tmp_path: Path, case: str
) -> None:
    path = tmp_path / "data.jsonl"
    path.write_bytes(CASES[case][0] * 2)  # the second copy is read once the format is known
    fast = _check(path, 1000, MiB, lambda: None)
    assert fast == _check(path, 1000, MiB, lambda: None, fast=False)


# --- async wrapper ---


@pytest.mark.anyio
async def test_the_async_wrapper_gives_the_same_report(tmp_path: Path) -> None:
    path = tmp_path / "data.jsonl"
    path.write_bytes(jsonl(CHAT, {"text": "t"}))
    assert await check_data_file_async(path, max_problems=5) == check_data_file(
        path, max_problems=5
    )
    with pytest.raises(ValueError, match="max_problems"):
        await check_data_file_async(path, max_problems=0)
    with pytest.raises(ValueError, match="no file at"):
        await check_data_file_async(tmp_path / "missing.jsonl")


@pytest.mark.anyio
async def test_cancelling_the_async_check_stops_it(tmp_path: Path) -> None:
    path = tmp_path / "huge.jsonl"
    write_huge_line_file(path, 64 * MiB)
    reports: list[DataFileReport] = []
    with anyio.CancelScope() as scope:
        async with anyio.create_task_group() as group:

            async def check() -> None:
                reports.append(await check_data_file_async(path, max_line_bytes=MiB))

            group.start_soon(check)
            await anyio.lowlevel.checkpoint()
            scope.cancel()
    assert scope.cancelled_caught and reports == []


def test_importing_the_package_leaves_the_thread_machinery_for_later() -> None:
    def threads_after(imports: str) -> set[str]:
        code = f"import sys, {imports}; print([m for m in sys.modules if 'thread' in m])"
        result = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
        )
        return set(json.loads(result.stdout.replace("'", '"')))

    # anyio before 4.15 imports its to_thread itself: only what the package adds counts
    dependencies = threads_after("aiohttp, anyio, msgspec, backoff")
    added = threads_after("nebius_ft_async") - dependencies
    assert not {"anyio.to_thread", "anyio.from_thread"} & added, added


class Stop(Exception):
    pass


@pytest.mark.parametrize("long_line", [True, False])
def test_the_check_asks_whether_to_stop_as_it_reads(tmp_path: Path, long_line: bool) -> None:
    """The hook the async wrapper passes (anyio's check_cancelled) is called every MiB read,
    in an over-long line as in ordinary ones."""
    path = tmp_path / "big.jsonl"
    if long_line:
        write_huge_line_file(path, 16 * MiB)
    else:
        path.write_bytes(GOOD * (16 * MiB // len(GOOD)))
    calls = 0

    def check_stop() -> None:
        nonlocal calls
        calls += 1
        if calls == 3:
            raise Stop

    with pytest.raises(Stop):
        _check(path, 10, MiB, check_stop)


# --- the command line ---


def nebius_ft(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "nebius_ft_async", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_cli_reports_problems_and_exits_1_on_errors(tmp_path: Path) -> None:
    path = tmp_path / "train.jsonl"
    path.write_bytes(jsonl(CHAT, {"text": "t", "id": 1}, CHAT) + b"oops\n" * 3)
    result = nebius_ft("files", "check", str(path), "--max-problems", "3")
    assert result.returncode == 1, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == f"{path}: conversational data, 3 examples on 6 lines, about 43 tokens"
    assert lines[1] == "roles: system 2, user 2, assistant 2"
    assert lines[2].startswith("line 2: error: text data in a file of conversational data")
    assert lines[3].startswith("line 2: warning: key 'id'")
    assert lines[4].startswith("line 4: error: not valid JSON")
    assert lines[5:] == ["... and 2 more (--max-problems lists more)", "4 errors, 1 warning"]


def test_cli_json_report_and_exit_0_with_warnings_only(tmp_path: Path) -> None:
    path = tmp_path / "train.jsonl"
    path.write_bytes(jsonl({"prompt": "p", "completion": "c", "source": "web"}))
    result = nebius_ft("files", "check", str(path), "--json")
    assert result.returncode == 0, result.stderr
    report = msgspec.json.decode(result.stdout, type=DataFileReport)
    assert report.ok and report.format == "instruction" and report.warnings == 1
    assert report.problems[0].line == 1 and "'source'" in report.problems[0].reason


def test_cli_usage_errors_exit_2(tmp_path: Path) -> None:
    result = nebius_ft("files", "check", str(tmp_path / "missing.jsonl"))
    assert result.returncode == 2 and "no file at" in result.stderr and not result.stdout
    (tmp_path / "ok.jsonl").write_bytes(GOOD)
    result = nebius_ft("files", "check", str(tmp_path / "ok.jsonl"), "--max-problems", "0")
    assert result.returncode == 2 and "--max-problems" in result.stderr
    result = nebius_ft("files", "check", str(tmp_path / "ok.jsonl"), "--max-line-bytes", "x")
    assert result.returncode == 2 and "--max-line-bytes" in result.stderr


@pytest.mark.skipif(not Path("/proc/self/mem").is_file(), reason="needs Linux /proc")
def test_cli_a_file_that_cannot_be_read_exits_2() -> None:
    result = nebius_ft("files", "check", "/proc/self/mem")  # a file whose read fails (EIO)
    assert result.returncode == 2 and not result.stdout
    assert result.stderr.startswith("nebius-ft: cannot read /proc/self/mem: ")


def test_cli_max_line_bytes(tmp_path: Path) -> None:
    path = tmp_path / "train.jsonl"
    path.write_bytes(GOOD * 2)
    result = nebius_ft("files", "check", str(path), "--max-line-bytes", "50")
    assert result.returncode == 1
    assert f"line 1: error: the line is {len(GOOD) - 1} bytes, over max_line_bytes (50)" in (
        result.stdout
    )


def test_readme_sample_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    section = README.read_text().split("## Checking data files before upload", 1)[1]
    code = re.findall(r"```python\n(.*?)```", section, re.S)[0]
    (tmp_path / "train.jsonl").write_bytes(jsonl(CHAT, {"text": "t"}))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit_info:
        exec(compile(code, "README.md", "exec"), {})
    assert exit_info.value.code == 1


def test_the_benchmark_runs_at_tiny_sizes() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "datacheck.py"), "--quick"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    for row in ("chat, 2 MB", "pretokenized, 2 MB", "floor: read lines", "naive: for line"):
        assert row in result.stdout
    assert re.search(
        r"\| one 50 MB line \| check_data_file \| - \| - \| \d+\.\d MiB \|", result.stdout
    )

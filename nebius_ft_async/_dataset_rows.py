"""Rows of a JSON Lines file against a dataset's schema, before they are uploaded. Pure.

A column's type is ``{"name": "string"}`` and its kin (``integer``, ``boolean``, ``float``,
``double``, ``json``, ``null``) or ``{"name": "option", "item": {...}}`` (the item type, or
null). A type this library does not know accepts any value, as the server may add types.
"""

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import msgspec

ROWS_CHECKED = 100
"""The rows ``upload_dataset`` checks from the start of a file."""
MAX_PROBLEMS = 5

_KINDS: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "boolean": (bool,),
    "float": (int, float),
    "double": (int, float),
    "null": (type(None),),
}


def _fits(value: Any, kind: Mapping[str, Any]) -> bool:
    name = kind.get("name")
    if name == "option":
        item = kind.get("item")
        return value is None or not isinstance(item, Mapping) or _fits(value, item)
    if name not in _KINDS:
        return True  # json, or a type added since
    if isinstance(value, bool) and name != "boolean":
        return False
    return isinstance(value, _KINDS[name])


def _optional(kind: Mapping[str, Any]) -> bool:
    return kind.get("name") in ("option", "null", "json")


def row_problems(lines: Iterable[bytes], schema: Sequence[Mapping[str, Any]]) -> list[str]:
    """What is wrong with ``lines`` (the first rows of a file) for ``schema``: at most
    ``MAX_PROBLEMS`` messages, each naming its line; empty when they fit."""
    columns: dict[str, Mapping[str, Any]] = {
        column["name"]: kind if isinstance(kind := column.get("type"), Mapping) else {}
        for column in schema
        if isinstance(column.get("name"), str)
    }
    problems: list[str] = []
    for number, line in enumerate(lines, 1):
        if len(problems) >= MAX_PROBLEMS:
            break
        if not line.strip():
            continue
        try:
            row = msgspec.json.decode(line)
        except msgspec.DecodeError as error:
            problems.append(f"line {number}: not valid JSON ({error})")
            continue
        if not isinstance(row, dict):
            problems.append(f"line {number}: a row must be a JSON object, not {type(row).__name__}")
            continue
        unknown = sorted(set(row) - set(columns))
        missing = sorted(
            name for name, kind in columns.items() if name not in row and not _optional(kind)
        )
        wrong = sorted(
            name
            for name, value in row.items()
            if name in columns and not _fits(value, columns[name])
        )
        for label, names in (("not in the schema", unknown), ("missing", missing)):
            if names:
                problems.append(f"line {number}: {label}: {', '.join(names)}")
        for name in wrong:
            kind = columns[name]
            problems.append(
                f"line {number}: {name} should be {kind.get('name')}, "
                f"got {type(row[name]).__name__}"
            )
    return problems[:MAX_PROBLEMS]

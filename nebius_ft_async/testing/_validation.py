"""Requests checked the way the API (FastAPI, pydantic) checks them: a small language of
field types, and the 422 problems they report.

Every query parameter and body the fake reads is checked against the API's documents
before it is used, as FastAPI does: in pydantic's lax mode (a query's "5" is an int, a
body's 5.0 too, "yes" a bool), all errors of a request at once, as a 422 whose ``detail``
lists each one with its ``loc`` (``["query", "limit"]``, ``["body", "method",
"supervised", ...]``), ``msg``, ``type`` and ``input``. Two deliberate departures, where
the API could only fail to write its answer: a number that is not finite (``NaN``,
``1e400``) is refused with ``finite_number``, and a string holding a lone surrogate (which
JSON can spell, ``"\\ud800"``) with ``string_unicode``. ``_requests`` declares the API's
request parts in this language.
"""

from __future__ import annotations

import math
import operator
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

Loc = tuple[str | int, ...]
Problems = list[dict[str, Any]]

INVALID: Any = object()
"""What a check returns for a value it refused (after adding the reasons to the list)."""
REQUIRED: Any = object()
OMITTED: Any = object()
"""The default of a field that is left out of the checked value when it is absent."""


class Unprocessable(Exception):
    """The request is answered 422 with these problems as ``detail``."""

    def __init__(self, problems: Problems) -> None:
        super().__init__(problems)
        self.problems = problems


class Unparsable(Exception):
    """The body cannot be parsed at all: 400, as FastAPI answers (a JSON body that is not
    UTF-8 or nests too deep, a broken multipart body)."""


def shown(value: Any, depth: int = 0) -> Any:
    """``value`` as a 422 can show it: JSON-ready, lone surrogates replaced, and bounded."""
    if isinstance(value, str):
        return value if _encodable(value) else _SURROGATE.sub("\ufffd", value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, Upload):
        return f"UploadFile({shown(value.filename)!r})"
    if depth >= 32 and isinstance(value, dict | list):
        return "..."
    if isinstance(value, dict):
        return {shown(key): shown(item, depth + 1) for key, item in value.items()}
    if isinstance(value, list):
        return [shown(item, depth + 1) for item in value]
    return value


_SURROGATE = re.compile("[\ud800-\udfff]")


def _encodable(text: str) -> bool:
    """Whether ``text`` holds no lone surrogate (so it can be written as UTF-8)."""
    if text.isascii():
        return True
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def problem(
    kind: str, loc: Loc, msg: str, value: Any, ctx: dict[str, Any] | None = None
) -> dict[str, Any]:
    entry: dict[str, Any] = {"type": kind, "loc": [shown(part) for part in loc], "msg": msg}
    entry["input"] = shown(value)
    if ctx is not None:
        entry["ctx"] = ctx
    return entry


_BOUNDS: dict[str, tuple[str, str, Callable[[Any, Any], bool]]] = {
    "ge": ("greater_than_equal", "greater than or equal to", operator.ge),
    "gt": ("greater_than", "greater than", operator.gt),
    "le": ("less_than_equal", "less than or equal to", operator.le),
    "lt": ("less_than", "less than", operator.lt),
}


def _bounded(value: Any, loc: Loc, problems: Problems, bounds: dict[str, float]) -> Any:
    """``value`` if it is within ``bounds`` (``ge``, ``gt``, ``le``, ``lt``), else a problem."""
    for name, bound in bounds.items():
        kind, words, within = _BOUNDS[name]
        if not within(value, bound):
            message = f"Input should be {words} {bound:g}"
            problems.append(problem(kind, loc, message, value, {name: bound}))
            return INVALID
    return value


_WHITESPACE = "\t\n\x0b\x0c\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007"
_WHITESPACE += "\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
"""What pydantic strips around a number (Unicode White_Space, not Python's isspace)."""
_DIGITS = r"\d(?:_?\d)*"
_INT_TEXT = re.compile(rf"[+-]?({_DIGITS})(?:\.0+)?", re.ASCII)
_FLOAT_TEXT = re.compile(
    rf"[+-]?(?:{_DIGITS}(?:\.(?:{_DIGITS})?)?|\.{_DIGITS})(?:[eE][+-]?{_DIGITS})?"
    r"|[+-]?(?:inf|infinity|nan)",
    re.ASCII | re.IGNORECASE,
)
_MAX_INT_DIGITS = 4300
_TRUE = frozenset({"1", "on", "t", "true", "y", "yes"})
_FALSE = frozenset({"0", "off", "f", "false", "n", "no"})


class FieldType:
    """A field's type: ``check`` returns the value it stands for (coerced the lax way), or
    ``INVALID`` after adding the reasons to ``problems``. ``name`` is how pydantic names it
    in the ``loc`` of a union member."""

    name = ""

    def check(self, value: Any, loc: Loc, problems: Problems) -> Any:
        raise NotImplementedError

    def fields_set(self, value: Any) -> int:
        """How many of its fields ``value`` sets (what a union prefers a member by)."""
        return 0


class Int(FieldType):
    name = "int"

    def __init__(self, **bounds: float) -> None:
        self.bounds = bounds

    def check(self, value: Any, loc: Loc, problems: Problems) -> Any:
        number = self._parse(value, loc, problems)
        return number if number is INVALID else _bounded(number, loc, problems, self.bounds)

    @staticmethod
    def _parse(value: Any, loc: Loc, problems: Problems) -> Any:
        if isinstance(value, int):  # bool too: True is 1
            return int(value)
        if isinstance(value, float):
            if not math.isfinite(value):
                problems.append(problem("finite_number", loc, _FINITE, value))
            elif not value.is_integer():
                message = "Input should be a valid integer, got a number with a fractional part"
                problems.append(problem("int_from_float", loc, message, value))
            elif not -(2**63) < value < 2**63:
                problems.append(problem("int_parsing_size", loc, _TOO_BIG, value))
            else:
                return int(value)
            return INVALID
        if isinstance(value, str):
            match = _INT_TEXT.fullmatch(value.strip(_WHITESPACE))
            if match is None:
                message = "Input should be a valid integer, unable to parse string as an integer"
                problems.append(problem("int_parsing", loc, message, value))
                return INVALID
            digits = match[1].replace("_", "").lstrip("0") or "0"
            if len(digits) > _MAX_INT_DIGITS:
                problems.append(problem("int_parsing_size", loc, _TOO_BIG, value))
                return INVALID
            return -int(digits) if match[0].startswith("-") else int(digits)
        problems.append(problem("int_type", loc, "Input should be a valid integer", value))
        return INVALID


_FINITE = "Input should be a finite number"
_MAX_FLOAT = int(sys.float_info.max)
_TOO_BIG = "Unable to parse input string as an integer, exceeded maximum size"


class Float(FieldType):
    name = "float"

    def __init__(self, **bounds: float) -> None:
        self.bounds = bounds

    def check(self, value: Any, loc: Loc, problems: Problems) -> Any:
        number: float
        if isinstance(value, float):
            number = value
        elif isinstance(value, int) and -_MAX_FLOAT <= value <= _MAX_FLOAT:
            number = float(value)
        elif isinstance(value, str) and _FLOAT_TEXT.fullmatch(text := value.strip(_WHITESPACE)):
            number = float(text.replace("_", ""))
        elif isinstance(value, str):
            message = "Input should be a valid number, unable to parse string as a number"
            problems.append(problem("float_parsing", loc, message, value))
            return INVALID
        else:
            problems.append(problem("float_type", loc, "Input should be a valid number", value))
            return INVALID
        if not math.isfinite(number):
            problems.append(problem("finite_number", loc, _FINITE, value))
            return INVALID
        return _bounded(number, loc, problems, self.bounds)


class Bool(FieldType):
    name = "bool"

    def check(self, value: Any, loc: Loc, problems: Problems) -> Any:
        if isinstance(value, bool):
            return value
        if isinstance(value, int | float) and value in (0, 1):
            return bool(value)
        if isinstance(value, str) and value.lower() in _TRUE | _FALSE:
            return value.lower() in _TRUE
        if isinstance(value, str | int) or (isinstance(value, float) and value.is_integer()):
            message = "Input should be a valid boolean, unable to interpret input"
            problems.append(problem("bool_parsing", loc, message, value))
        else:
            problems.append(problem("bool_type", loc, "Input should be a valid boolean", value))
        return INVALID


class Str(FieldType):
    name = "str"

    def __init__(self, max_length: int | None = None) -> None:
        self.max_length = max_length

    def check(self, value: Any, loc: Loc, problems: Problems) -> Any:
        if not isinstance(value, str):
            problems.append(problem("string_type", loc, "Input should be a valid string", value))
        elif not _encodable(value):
            message = "Input should be a valid string, unable to parse raw data as a unicode string"
            problems.append(problem("string_unicode", loc, message, value))
        elif self.max_length is not None and len(value) > self.max_length:
            message = f"String should have at most {self.max_length} characters"
            ctx = {"max_length": self.max_length}
            problems.append(problem("string_too_long", loc, message, value, ctx))
        else:
            return value
        return INVALID


def _listed(values: Sequence[str]) -> str:
    quoted = [f"'{value}'" for value in values]
    return quoted[0] if len(quoted) == 1 else f"{', '.join(quoted[:-1])} or {quoted[-1]}"


class Choice(FieldType):
    """One of some strings: a ``Literal`` (``literal_error``) or an ``Enum`` (``enum``)."""

    def __init__(self, *values: str, kind: Literal["literal_error", "enum"] = "enum") -> None:
        self.values = values
        self.kind = kind
        self.name = f"literal[{', '.join(repr(value) for value in values)}]"

    def check(self, value: Any, loc: Loc, problems: Problems) -> Any:
        if isinstance(value, str) and value in self.values:
            return value
        expected = _listed(self.values)
        ctx = {"expected": expected}
        problems.append(problem(self.kind, loc, f"Input should be {expected}", value, ctx))
        return INVALID


class Nullable(FieldType):
    def __init__(self, inner: FieldType) -> None:
        self.inner = inner
        self.name = inner.name

    def check(self, value: Any, loc: Loc, problems: Problems) -> Any:
        return None if value is None else self.inner.check(value, loc, problems)


class List(FieldType):
    name = "list"

    def __init__(self, item: FieldType) -> None:
        self.item = item

    def check(self, value: Any, loc: Loc, problems: Problems) -> Any:
        if not isinstance(value, list):
            problems.append(problem("list_type", loc, "Input should be a valid list", value))
            return INVALID
        items = [self.item.check(item, (*loc, index), problems) for index, item in enumerate(value)]
        return INVALID if INVALID in items else items


class Dict(FieldType):
    """An object of ``value``s (or of anything, without one), keys checked as strings."""

    name = "dict"

    def __init__(self, value: FieldType | None = None) -> None:
        self.value = value

    def check(self, value: Any, loc: Loc, problems: Problems) -> Any:
        if not isinstance(value, dict):
            problems.append(problem("dict_type", loc, "Input should be a valid dictionary", value))
            return INVALID
        if self.value is None:
            return value
        before = len(problems)
        checked = {}
        for key, item in value.items():
            Str().check(key, (*loc, key, "[key]"), problems)
            checked[key] = self.value.check(item, (*loc, key), problems)
        return INVALID if len(problems) > before else checked


class Model(FieldType):
    """An object with declared fields: each ``(type, default)``, the default ``REQUIRED``
    or ``OMITTED`` (left out when absent). Undeclared fields are accepted and dropped."""

    def __init__(self, name: str, fields: dict[str, tuple[FieldType, Any]]) -> None:
        self.name = name
        self.fields = fields

    def check(self, value: Any, loc: Loc, problems: Problems) -> Any:
        if not isinstance(value, dict):
            message = "Input should be a valid dictionary or object to extract fields from"
            problems.append(problem("model_attributes_type", loc, message, value))
            return INVALID
        before = len(problems)
        checked: dict[str, Any] = {}
        for name, (kind, default) in self.fields.items():
            if name in value:
                checked[name] = kind.check(value[name], (*loc, name), problems)
            elif default is REQUIRED:
                problems.append(problem("missing", (*loc, name), "Field required", value))
            elif default is not OMITTED:
                checked[name] = default
        return INVALID if len(problems) > before else checked

    def fields_set(self, value: Any) -> int:
        return sum(name in value for name in self.fields) if isinstance(value, dict) else 0


class Union(FieldType):
    """The first member that takes the value, preferring the one that sets most fields
    (pydantic's smart union); else every member's problems, under the member's name."""

    def __init__(self, *members: FieldType) -> None:
        self.members = members

    def check(self, value: Any, loc: Loc, problems: Problems) -> Any:
        best, best_fields = INVALID, -1
        refusals: Problems = []
        for member in self.members:
            mine: Problems = []
            checked = member.check(value, (*loc, member.name), mine)
            if checked is INVALID:
                refusals += mine
            elif member.fields_set(value) > best_fields:
                best, best_fields = checked, member.fields_set(value)
        if best is INVALID:
            problems += refusals
        return best


class Tagged(FieldType):
    """A union told apart by a ``tag`` field (a pydantic discriminator)."""

    def __init__(self, tag: str, members: dict[str, FieldType]) -> None:
        self.tag = tag
        self.members = members

    def check(self, value: Any, loc: Loc, problems: Problems) -> Any:
        if not isinstance(value, dict):
            message = "Input should be a valid dictionary or object to extract fields from"
            problems.append(problem("model_attributes_type", loc, message, value))
            return INVALID
        discriminator = f"'{self.tag}'"
        if self.tag not in value:
            message = f"Unable to extract tag using discriminator {discriminator}"
            ctx = {"discriminator": discriminator}
            problems.append(problem("union_tag_not_found", loc, message, value, ctx))
            return INVALID
        tag = value[self.tag]
        member = self.members.get(tag) if isinstance(tag, str) else None
        if member is None:
            expected = ", ".join(f"'{name}'" for name in self.members)
            message = (
                f"Input tag '{shown(tag)}' found using {discriminator} does not match any of "
                f"the expected tags: {expected}"
            )
            ctx = {
                "discriminator": discriminator,
                "tag": str(shown(tag)),
                "expected_tags": expected,
            }
            problems.append(problem("union_tag_invalid", loc, message, value, ctx))
            return INVALID
        return member.check(value, (*loc, tag), problems)


@dataclass
class Upload:
    """A file part of a multipart body: its name and content."""

    filename: str
    content: bytes


class File(FieldType):
    """FastAPI's ``UploadFile``: a part with a file name."""

    def check(self, value: Any, loc: Loc, problems: Problems) -> Any:
        if isinstance(value, Upload):
            return value
        message = f"Value error, Expected UploadFile, received: {type(value)}"
        problems.append(problem("value_error", loc, message, value, {"error": {}}))
        return INVALID

"""A fake Token Factory for tests and demos: the fine-tuning API, in process, on 127.0.0.1.

::

    from nebius_ft_async.testing import FakeTokenFactory

    async with FakeTokenFactory() as fake:
        job_id = fake.add_job(outcome="failed")
        async with fake.session() as session:
            job = await session.wait_for_job(job_id, poll_interval=0.01)
            assert job.status == "failed"

It serves every endpoint the library calls, with bodies shaped like the API's (including
fields the library does not model), pages with ``after``/``limit`` as the API does, and checks
the bearer key. Jobs follow a scripted lifecycle, ``validating_files`` -> ``queued`` ->
``running`` (growing ``trained_steps``, a metrics event per step, a checkpoint now and then)
-> ``succeeded`` / ``failed`` / ``cancelled``, advanced one step each time the job is polled
or listed, one step per ``step_seconds``, or spread so that the job is final exactly
``finish_after`` seconds after it was added. Faults (429 with ``Retry-After``, 5xx, 404, a
dropped connection) are queued with ``fail_next``.

Custom models (``/v0/models``) are served too: a created model is ``validating`` for a few
polls, then ``active``, or ``error`` with a ``status_reason`` (an uploaded archive without
``adapter_config.json``, or as scripted through ``models`` / ``add_model``); uploaded files
can be shown going through statuses with ``script_file``. A file's content is fetched as
from the real service: ``GET /v1/files/{file_id}/content`` answers 302 with a signed link to
object storage on another origin (``storage_url``), which refuses a request that carries an
``Authorization`` header (400, as S3 does for a signed link), a wrong signature or an expired
link (403; links live ``link_lifetime`` seconds). Datasets go up in parts as on the real
service: parts are kept, a completed upload is ``COMPLETING`` for a poll and then
``COMPLETED`` with the rows of the assembled JSON Lines (or ``FAILED`` saying which line is
not), and datasets export as JSON Lines or CSV.

Bad input is answered as the API's FastAPI app answers it: every query parameter and body the
fake reads is checked against the API documents the pydantic way, and what they refuse gets a
422 listing every problem, ``{"detail": [{"type": "int_parsing", "loc": ["query", "limit"],
"msg": "...", "input": "true"}]}``; a body that cannot be parsed gets a 400, an unknown path
or method a JSON 404 or 405, an unknown id a 404. The fake answers 5xx only when a fault was
scripted.

For monitors at scale: ``rate_limit`` puts a token bucket in front of the API (429 with
``Retry-After`` / ``retry-after-ms``, ``x-ratelimit-*`` headers on every answer);
``add_jobs`` scripts many jobs at once (100,000 in well under a few seconds), each with its
own ``finish_after``, ``outcome`` and ``created_at`` if wanted; a request costs O(page size)
however many jobs there are (jobs move only when served); and ``list_order`` picks the order
of ``GET /v1/fine_tuning/jobs``.

This is a server, so it imports ``aiohttp.web``; the client's request path stays in
``_session``.
"""

from __future__ import annotations

import bisect
import calendar
import csv
import hashlib
import io
import itertools
import json
import math
import operator
import re
import sys
import time
import zipfile
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Literal, Self, TypeVar
from urllib.parse import parse_qsl

import msgspec
from aiohttp import BodyPartReader, web

from . import _routes as routes
from ._routes import Route
from ._session import AsyncSession

__all__ = ["FakeJob", "FakeModel", "FakeTokenFactory"]

Outcome = Literal["succeeded", "failed", "cancelled"]
ListOrder = Literal["newest_first", "oldest_first", "shuffled"]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_Fault = Callable[[web.Request, Handler], Awaitable[web.StreamResponse]]
_T = TypeVar("_T")

_encode = msgspec.json.Encoder().encode
_POLL_STEP_SECONDS = 30
"""How long a lifecycle step is said to take when jobs move per poll (for ETAs)."""
_MAX_JOBS_LIMIT = 100
"""The most jobs one list page holds, whatever ``limit`` asks (what the API is believed to do)."""


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        body=_encode(body), status=status, content_type="application/json", headers=headers
    )


def _error(status: int, detail: str, headers: dict[str, str] | None = None) -> web.Response:
    return _json({"detail": detail}, status=status, headers=headers)


_OPERATION_STATUS = {"validating_files": "queued", "queued": "queued", "running": "running"}


_AMZ_DATE = "%Y%m%dT%H%M%SZ"


def _storage_error(status: int, code: str, message: str) -> web.Response:
    """An S3-style error answer."""
    body = f"<Error><Code>{code}</Code><Message>{message}</Message></Error>"
    return web.Response(status=status, text=body, content_type="application/xml")


def _exported(dataset: dict[str, Any], rows: list[dict[str, Any]], form: str) -> bytes:
    """A dataset's rows as ``GET .../export`` gives them: JSON Lines, or CSV with a header
    row of the schema's columns (JSON values other than strings written as JSON)."""
    if form == "jsonl":
        return b"".join(json.dumps(row).encode() + b"\n" for row in rows)
    names = [column.get("name", "") for column in dataset.get("schema", [])]
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(names)
    for row in rows:
        values = (row.get(name) for name in names)
        writer.writerow(
            "" if v is None else v if isinstance(v, str) else json.dumps(v) for v in values
        )
    return text.getvalue().encode()


def _json_lines_rows(content: bytes) -> tuple[list[dict[str, Any]], str | None]:
    """The rows of an assembled upload, or why it is not JSON Lines of objects."""
    rows = []
    for number, line in enumerate(content.splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError:
            return [], f"line {number} is not valid JSON"
        if not isinstance(row, dict):
            return [], f"line {number} is not a JSON object"
        rows.append(row)
    return rows, None


def _not_found(detail: str) -> web.HTTPNotFound:
    return web.HTTPNotFound(
        text=_encode({"detail": _shown(detail)}).decode(), content_type="application/json"
    )


def _from_exception(error: web.HTTPException) -> web.Response:
    """aiohttp's own answer (an unknown path, a method it does not route, a body over its
    size limit) as the API gives it: JSON, ``{"detail": "Not Found"}``."""
    headers = {k: v for k, v in error.headers.items() if k.lower() not in _OWN_HEADERS}
    if error.content_type == "application/json" and error.text is not None:
        body = error.text.encode()
    else:
        body = _encode({"detail": error.reason})
    return web.Response(
        body=body, status=error.status, content_type="application/json", headers=headers
    )


_OWN_HEADERS = frozenset({"content-type", "content-length"})
_ANY_SEGMENT = re.compile(r"\{(\w+)\}")


_WRITE_ONLY = frozenset({"api_key", "api_token", "password", "token"})


def _without_secrets(value: Any) -> Any:
    """What the API echoes of a request part: its write-only secrets left out."""
    if isinstance(value, dict):
        return {k: _without_secrets(v) for k, v in value.items() if k not in _WRITE_ONLY}
    if isinstance(value, list):
        return [_without_secrets(item) for item in value]
    return value


def _page(items: list[dict[str, Any]], limit: int, after: str | None) -> dict[str, Any]:
    limit = max(1, limit)
    start = 0
    if after is not None:
        ids = [item["id"] for item in items]
        start = ids.index(after) + 1 if after in ids else len(items)
    chunk = items[start : start + limit]
    return {
        "object": "list",
        "data": chunk,
        "has_more": start + limit < len(items),
        "first_id": chunk[0]["id"] if chunk else None,
        "last_id": chunk[-1]["id"] if chunk else None,
    }


def _per_job(value: _T | Sequence[_T] | Callable[[int], _T], count: int, name: str) -> list[_T]:
    """``add_jobs``' per-job values: one for all, one each from a sequence, or ``value(index)``."""
    if callable(value):
        return [value(index) for index in range(count)]
    if isinstance(value, Sequence) and not isinstance(value, str):
        if len(value) != count:
            raise ValueError(f"{name} has {len(value)} values for {count} jobs")
        return list(value)
    return [value] * count


def _seconds(value: float) -> str:
    """A duration the OpenAI way, in seconds rounded up to the millisecond: ``1.5s``, ``0s``."""
    return f"{math.ceil(value * 1000) / 1000:.3f}".rstrip("0").rstrip(".") + "s"


# -- requests checked the way the API (FastAPI, pydantic) checks them -----------------
#
# Every query parameter and body the fake reads is checked against the API's documents
# before it is used, as FastAPI does: in pydantic's lax mode (a query's "5" is an int, a
# body's 5.0 too, "yes" a bool), all errors of a request at once, as a 422 whose ``detail``
# lists each one with its ``loc`` (``["query", "limit"]``, ``["body", "method",
# "supervised", ...]``), ``msg``, ``type`` and ``input``. Two deliberate departures, where
# the API could only fail to write its answer: a number that is not finite (``NaN``,
# ``1e400``) is refused with ``finite_number``, and a string holding a lone surrogate (which
# JSON can spell, ``"\ud800"``) with ``string_unicode``.

_Loc = tuple[str | int, ...]
_Problems = list[dict[str, Any]]

_INVALID: Any = object()
"""What a check returns for a value it refused (after adding the reasons to the list)."""
_REQUIRED: Any = object()
_OMITTED: Any = object()
"""The default of a field that is left out of the checked value when it is absent."""


class _Unprocessable(Exception):
    """The request is answered 422 with these problems as ``detail``."""

    def __init__(self, problems: _Problems) -> None:
        super().__init__(problems)
        self.problems = problems


class _Unparsable(Exception):
    """The body cannot be parsed at all: 400, as FastAPI answers (a JSON body that is not
    UTF-8 or nests too deep, a broken multipart body)."""


def _shown(value: Any, depth: int = 0) -> Any:
    """``value`` as a 422 can show it: JSON-ready, lone surrogates replaced, and bounded."""
    if isinstance(value, str):
        return value if _encodable(value) else _SURROGATE.sub("\ufffd", value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, _Upload):
        return f"UploadFile({_shown(value.filename)!r})"
    if depth >= 32 and isinstance(value, dict | list):
        return "..."
    if isinstance(value, dict):
        return {_shown(key): _shown(item, depth + 1) for key, item in value.items()}
    if isinstance(value, list):
        return [_shown(item, depth + 1) for item in value]
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


def _problem(
    kind: str, loc: _Loc, msg: str, value: Any, ctx: dict[str, Any] | None = None
) -> dict[str, Any]:
    problem: dict[str, Any] = {"type": kind, "loc": [_shown(part) for part in loc], "msg": msg}
    problem["input"] = _shown(value)
    if ctx is not None:
        problem["ctx"] = ctx
    return problem


_BOUNDS: dict[str, tuple[str, str, Callable[[Any, Any], bool]]] = {
    "ge": ("greater_than_equal", "greater than or equal to", operator.ge),
    "gt": ("greater_than", "greater than", operator.gt),
    "le": ("less_than_equal", "less than or equal to", operator.le),
    "lt": ("less_than", "less than", operator.lt),
}


def _bounded(value: Any, loc: _Loc, problems: _Problems, bounds: dict[str, float]) -> Any:
    """``value`` if it is within ``bounds`` (``ge``, ``gt``, ``le``, ``lt``), else a problem."""
    for name, bound in bounds.items():
        kind, words, within = _BOUNDS[name]
        if not within(value, bound):
            message = f"Input should be {words} {bound:g}"
            problems.append(_problem(kind, loc, message, value, {name: bound}))
            return _INVALID
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


class _Type:
    """A field's type: ``check`` returns the value it stands for (coerced the lax way), or
    ``_INVALID`` after adding the reasons to ``problems``. ``name`` is how pydantic names it
    in the ``loc`` of a union member."""

    name = ""

    def check(self, value: Any, loc: _Loc, problems: _Problems) -> Any:
        raise NotImplementedError

    def fields_set(self, value: Any) -> int:
        """How many of its fields ``value`` sets (what a union prefers a member by)."""
        return 0


class _Int(_Type):
    name = "int"

    def __init__(self, **bounds: float) -> None:
        self.bounds = bounds

    def check(self, value: Any, loc: _Loc, problems: _Problems) -> Any:
        number = self._parse(value, loc, problems)
        return number if number is _INVALID else _bounded(number, loc, problems, self.bounds)

    @staticmethod
    def _parse(value: Any, loc: _Loc, problems: _Problems) -> Any:
        if isinstance(value, int):  # bool too: True is 1
            return int(value)
        if isinstance(value, float):
            if not math.isfinite(value):
                problems.append(_problem("finite_number", loc, _FINITE, value))
            elif not value.is_integer():
                message = "Input should be a valid integer, got a number with a fractional part"
                problems.append(_problem("int_from_float", loc, message, value))
            elif not -(2**63) < value < 2**63:
                problems.append(_problem("int_parsing_size", loc, _TOO_BIG, value))
            else:
                return int(value)
            return _INVALID
        if isinstance(value, str):
            match = _INT_TEXT.fullmatch(value.strip(_WHITESPACE))
            if match is None:
                message = "Input should be a valid integer, unable to parse string as an integer"
                problems.append(_problem("int_parsing", loc, message, value))
                return _INVALID
            digits = match[1].replace("_", "").lstrip("0") or "0"
            if len(digits) > _MAX_INT_DIGITS:
                problems.append(_problem("int_parsing_size", loc, _TOO_BIG, value))
                return _INVALID
            return -int(digits) if match[0].startswith("-") else int(digits)
        problems.append(_problem("int_type", loc, "Input should be a valid integer", value))
        return _INVALID


_FINITE = "Input should be a finite number"
_MAX_FLOAT = int(sys.float_info.max)
_TOO_BIG = "Unable to parse input string as an integer, exceeded maximum size"


class _Float(_Type):
    name = "float"

    def __init__(self, **bounds: float) -> None:
        self.bounds = bounds

    def check(self, value: Any, loc: _Loc, problems: _Problems) -> Any:
        number: float
        if isinstance(value, float):
            number = value
        elif isinstance(value, int) and -_MAX_FLOAT <= value <= _MAX_FLOAT:
            number = float(value)
        elif isinstance(value, str) and _FLOAT_TEXT.fullmatch(text := value.strip(_WHITESPACE)):
            number = float(text.replace("_", ""))
        elif isinstance(value, str):
            message = "Input should be a valid number, unable to parse string as a number"
            problems.append(_problem("float_parsing", loc, message, value))
            return _INVALID
        else:
            problems.append(_problem("float_type", loc, "Input should be a valid number", value))
            return _INVALID
        if not math.isfinite(number):
            problems.append(_problem("finite_number", loc, _FINITE, value))
            return _INVALID
        return _bounded(number, loc, problems, self.bounds)


class _Bool(_Type):
    name = "bool"

    def check(self, value: Any, loc: _Loc, problems: _Problems) -> Any:
        if isinstance(value, bool):
            return value
        if isinstance(value, int | float) and value in (0, 1):
            return bool(value)
        if isinstance(value, str) and value.lower() in _TRUE | _FALSE:
            return value.lower() in _TRUE
        if isinstance(value, str | int) or (isinstance(value, float) and value.is_integer()):
            message = "Input should be a valid boolean, unable to interpret input"
            problems.append(_problem("bool_parsing", loc, message, value))
        else:
            problems.append(_problem("bool_type", loc, "Input should be a valid boolean", value))
        return _INVALID


class _Str(_Type):
    name = "str"

    def __init__(self, max_length: int | None = None) -> None:
        self.max_length = max_length

    def check(self, value: Any, loc: _Loc, problems: _Problems) -> Any:
        if not isinstance(value, str):
            problems.append(_problem("string_type", loc, "Input should be a valid string", value))
        elif not _encodable(value):
            message = "Input should be a valid string, unable to parse raw data as a unicode string"
            problems.append(_problem("string_unicode", loc, message, value))
        elif self.max_length is not None and len(value) > self.max_length:
            message = f"String should have at most {self.max_length} characters"
            ctx = {"max_length": self.max_length}
            problems.append(_problem("string_too_long", loc, message, value, ctx))
        else:
            return value
        return _INVALID


def _listed(values: Sequence[str]) -> str:
    quoted = [f"'{value}'" for value in values]
    return quoted[0] if len(quoted) == 1 else f"{', '.join(quoted[:-1])} or {quoted[-1]}"


class _Choice(_Type):
    """One of some strings: a ``Literal`` (``literal_error``) or an ``Enum`` (``enum``)."""

    def __init__(self, *values: str, kind: Literal["literal_error", "enum"] = "enum") -> None:
        self.values = values
        self.kind = kind
        self.name = f"literal[{', '.join(repr(value) for value in values)}]"

    def check(self, value: Any, loc: _Loc, problems: _Problems) -> Any:
        if isinstance(value, str) and value in self.values:
            return value
        expected = _listed(self.values)
        ctx = {"expected": expected}
        problems.append(_problem(self.kind, loc, f"Input should be {expected}", value, ctx))
        return _INVALID


class _Nullable(_Type):
    def __init__(self, inner: _Type) -> None:
        self.inner = inner
        self.name = inner.name

    def check(self, value: Any, loc: _Loc, problems: _Problems) -> Any:
        return None if value is None else self.inner.check(value, loc, problems)


class _List(_Type):
    name = "list"

    def __init__(self, item: _Type) -> None:
        self.item = item

    def check(self, value: Any, loc: _Loc, problems: _Problems) -> Any:
        if not isinstance(value, list):
            problems.append(_problem("list_type", loc, "Input should be a valid list", value))
            return _INVALID
        items = [self.item.check(item, (*loc, index), problems) for index, item in enumerate(value)]
        return _INVALID if _INVALID in items else items


class _Dict(_Type):
    """An object of ``value``s (or of anything, without one), keys checked as strings."""

    name = "dict"

    def __init__(self, value: _Type | None = None) -> None:
        self.value = value

    def check(self, value: Any, loc: _Loc, problems: _Problems) -> Any:
        if not isinstance(value, dict):
            problems.append(_problem("dict_type", loc, "Input should be a valid dictionary", value))
            return _INVALID
        if self.value is None:
            return value
        before = len(problems)
        checked = {}
        for key, item in value.items():
            _Str().check(key, (*loc, key, "[key]"), problems)
            checked[key] = self.value.check(item, (*loc, key), problems)
        return _INVALID if len(problems) > before else checked


class _Model(_Type):
    """An object with declared fields: each ``(type, default)``, the default ``_REQUIRED``
    or ``_OMITTED`` (left out when absent). Undeclared fields are accepted and dropped."""

    def __init__(self, name: str, fields: dict[str, tuple[_Type, Any]]) -> None:
        self.name = name
        self.fields = fields

    def check(self, value: Any, loc: _Loc, problems: _Problems) -> Any:
        if not isinstance(value, dict):
            message = "Input should be a valid dictionary or object to extract fields from"
            problems.append(_problem("model_attributes_type", loc, message, value))
            return _INVALID
        before = len(problems)
        checked: dict[str, Any] = {}
        for name, (kind, default) in self.fields.items():
            if name in value:
                checked[name] = kind.check(value[name], (*loc, name), problems)
            elif default is _REQUIRED:
                problems.append(_problem("missing", (*loc, name), "Field required", value))
            elif default is not _OMITTED:
                checked[name] = default
        return _INVALID if len(problems) > before else checked

    def fields_set(self, value: Any) -> int:
        return sum(name in value for name in self.fields) if isinstance(value, dict) else 0


class _Union(_Type):
    """The first member that takes the value, preferring the one that sets most fields
    (pydantic's smart union); else every member's problems, under the member's name."""

    def __init__(self, *members: _Type) -> None:
        self.members = members

    def check(self, value: Any, loc: _Loc, problems: _Problems) -> Any:
        best, best_fields = _INVALID, -1
        refusals: _Problems = []
        for member in self.members:
            mine: _Problems = []
            checked = member.check(value, (*loc, member.name), mine)
            if checked is _INVALID:
                refusals += mine
            elif member.fields_set(value) > best_fields:
                best, best_fields = checked, member.fields_set(value)
        if best is _INVALID:
            problems += refusals
        return best


class _Tagged(_Type):
    """A union told apart by a ``tag`` field (a pydantic discriminator)."""

    def __init__(self, tag: str, members: dict[str, _Type]) -> None:
        self.tag = tag
        self.members = members

    def check(self, value: Any, loc: _Loc, problems: _Problems) -> Any:
        if not isinstance(value, dict):
            message = "Input should be a valid dictionary or object to extract fields from"
            problems.append(_problem("model_attributes_type", loc, message, value))
            return _INVALID
        discriminator = f"'{self.tag}'"
        if self.tag not in value:
            message = f"Unable to extract tag using discriminator {discriminator}"
            ctx = {"discriminator": discriminator}
            problems.append(_problem("union_tag_not_found", loc, message, value, ctx))
            return _INVALID
        tag = value[self.tag]
        member = self.members.get(tag) if isinstance(tag, str) else None
        if member is None:
            expected = ", ".join(f"'{name}'" for name in self.members)
            message = (
                f"Input tag '{_shown(tag)}' found using {discriminator} does not match any of "
                f"the expected tags: {expected}"
            )
            ctx = {
                "discriminator": discriminator,
                "tag": str(_shown(tag)),
                "expected_tags": expected,
            }
            problems.append(_problem("union_tag_invalid", loc, message, value, ctx))
            return _INVALID
        return member.check(value, (*loc, tag), problems)


@dataclass
class _Upload:
    """A file part of a multipart body: its name and content."""

    filename: str
    content: bytes


class _File(_Type):
    """FastAPI's ``UploadFile``: a part with a file name."""

    def check(self, value: Any, loc: _Loc, problems: _Problems) -> Any:
        if isinstance(value, _Upload):
            return value
        message = f"Value error, Expected UploadFile, received: {type(value)}"
        problems.append(_problem("value_error", loc, message, value, {"error": {}}))
        return _INVALID


def _tagged_type(tag: str) -> _Type:
    """The ``type`` of an integration or checkpoint: any string, ``tag`` when absent."""
    return _Union(_Str(), _Choice(tag, kind="literal_error"))


# The request parts of the API documents (nebius-ft-extra-openapi.json's FineTuningRequest
# and the parameters of each operation), as pydantic declares them.

_SUPERVISED_HYPERPARAMETERS = _Model(
    "SupervisedHParameters",
    {
        "batch_size": (_Int(ge=1, le=64), 8),
        "learning_rate": (_Float(ge=0), 1e-05),
        "n_epochs": (_Int(ge=1, le=20), 3),
        "warmup_ratio": (_Float(ge=0, le=1), 0.0),
        "weight_decay": (_Float(ge=0), 0.0),
        "packing": (_Bool(), True),
        "max_grad_norm": (_Float(gt=0), 1.0),
        "context_length": (_Int(ge=8192, le=131072), 8192),
        "lora": (_Bool(), False),
        "lora_r": (_Int(ge=8, le=128), 8),
        "lora_alpha": (_Int(ge=8), 8),
        "lora_dropout": (_Float(ge=0, le=1), 0.0),
    },
)
_SPEC_DRAFT_HYPERPARAMETERS = _Model(
    "SpecDraftHParameters",
    {
        "batch_size": (_Int(ge=1, le=64), 8),
        "learning_rate": (_Float(gt=0, lt=1), 0.0075),
        "n_epochs": (_Int(ge=1, le=20), 1),
        "warmup_ratio": (_Float(ge=0, le=1), 0.0),
        "weight_decay": (_Float(ge=0), 0.0),
        "packing": (_Bool(), True),
        "max_grad_norm": (_Float(gt=0), 1.0),
        "context_length": (_Int(ge=8192, le=131072), 8192),
        "architecture": (_Str(), "eagle3_original"),
        "num_decoding_heads": (_Int(ge=1, le=10), 3),
        "loss": (
            _Model("SpecDraftLossParams", {"type": (_Choice("kl", "lk_alpha", "lk_hybrid"), "kl")}),
            _OMITTED,
        ),
    },
)
_METHOD = _Tagged(
    "type",
    {
        "supervised": _Model(
            "SupervisedMethodConfig",
            {
                "type": (_Choice("supervised", kind="literal_error"), "supervised"),
                "supervised": (
                    _Model(
                        "SupervisedConfig",
                        {"hyperparameters": (_SUPERVISED_HYPERPARAMETERS, _REQUIRED)},
                    ),
                    _REQUIRED,
                ),
            },
        ),
        "spec-draft": _Model(
            "SpecDraftMethodConfig",
            {
                "type": (_Choice("spec-draft", kind="literal_error"), "spec-draft"),
                "spec_draft": (
                    _Model(
                        "SpecDraftConfig",
                        {"hyperparameters": (_SPEC_DRAFT_HYPERPARAMETERS, _REQUIRED)},
                    ),
                    _REQUIRED,
                ),
            },
        ),
    },
)
_OPTIONAL_STR = (_Nullable(_Str()), None)
_INTEGRATION = _Union(
    _Model(
        "WandbIntegrationRequest",
        {
            "type": (_tagged_type("wandb"), "wandb"),
            "wandb": (
                _Model(
                    "WandbConfigRequest",
                    {
                        "project": (_Str(), _REQUIRED),
                        "name": _OPTIONAL_STR,
                        "entity": _OPTIONAL_STR,
                        "tags": (_List(_Str()), _OMITTED),
                        "api_key": (_Str(), _REQUIRED),
                    },
                ),
                _REQUIRED,
            ),
        },
    ),
    _Model(
        "MlflowIntegrationRequest",
        {
            "type": (_Choice("mlflow", kind="literal_error"), "mlflow"),
            "mlflow": (
                _Model(
                    "MlflowConfigRequest",
                    {
                        "tracking_uri": (_Str(), _REQUIRED),
                        "experiment_name": (_Nullable(_Str()), _REQUIRED),
                        "run_name": (_Nullable(_Str()), _REQUIRED),
                        "tags": (_Dict(_Str()), _OMITTED),
                        "certificate_file": (_Str(), _REQUIRED),
                        "certificate_file_id": _OPTIONAL_STR,
                        "username": (_Str(), _REQUIRED),
                        "password": (_Str(), _REQUIRED),
                    },
                ),
                _REQUIRED,
            ),
        },
    ),
    _Model(
        "HfExportIntegrationRequest",
        {
            "type": (_tagged_type("hf"), "hf"),
            "hf": (
                _Model(
                    "HfExportConfigRequest",
                    {"output_repo_name": (_Str(), _REQUIRED), "api_token": (_Str(), _REQUIRED)},
                ),
                _REQUIRED,
            ),
        },
    ),
)
_FROM_CHECKPOINT = _Union(
    _Model(
        "HFCheckpointParametersRequest",
        {
            "type": (_tagged_type("hf"), "hf"),
            "repo": (_Str(), _REQUIRED),
            "revision": _OPTIONAL_STR,
            "token": _OPTIONAL_STR,
        },
    ),
    _Model("FTCheckpointParameters", {"type": (_tagged_type("ft"), "ft")}),
)
_FINE_TUNING_REQUEST = _Model(
    "FineTuningRequest",
    {
        "model": (_Str(), _REQUIRED),
        "from_checkpoint": (_Nullable(_FROM_CHECKPOINT), None),
        "training_file": (_Str(), _REQUIRED),
        "validation_file": _OPTIONAL_STR,
        "hyperparameters": (_Nullable(_SUPERVISED_HYPERPARAMETERS), None),
        "method": (_Nullable(_METHOD), None),
        "integrations": (_Nullable(_List(_INTEGRATION)), None),
        "seed": (_Nullable(_Int()), None),
        "suffix": (_Nullable(_Str(max_length=64)), None),
        "tags": (_Nullable(_List(_Str())), None),
        "extra_body": (_Nullable(_Dict()), None),
    },
)
_PURPOSE = _Choice("batch", "fine-tune")
_UPLOAD_FORM = {"file": (_File(), _REQUIRED), "purpose": (_PURPOSE, _REQUIRED)}
# nebius-models-openapi.json: the body of POST /v0/models and the form of its uploads
_CUSTOM_MODEL_REQUEST = _Model(
    "CreateCustomModelRequest",
    {
        "name": (_Str(), _REQUIRED),
        "base_model": (_Str(), _REQUIRED),
        "source": (_Str(), _REQUIRED),
        "description": _OPTIONAL_STR,
    },
)
_MODEL_ARCHIVE_FORM = {"file": (_File(), _REQUIRED)}

_ANY_OBJECT = _Dict()
_ANY_OBJECT.name = "dict[str,any]"
_COLUMNS = (_List(_Dict()), _REQUIRED)
_CREATE_DATASET_FROM_ROWS = _Model(
    "CreateDatasetRequestUpload",
    {
        "name": (_Str(), _REQUIRED),
        "schema": _COLUMNS,
        "folder": (_Str(), _REQUIRED),
        "rows": (_List(_Dict()), _REQUIRED),
        "ai_project_id": _OPTIONAL_STR,
    },
)
# CreateDatasetRequestS3: the document shows its name only
_CREATE_DATASET = _Union(_CREATE_DATASET_FROM_ROWS, _ANY_OBJECT)
_PATCH_DATASET = _Model("PatchDataset", {"name": _OPTIONAL_STR, "folder": _OPTIONAL_STR})
_CREATE_DATASET_UPLOAD = _Model(
    "CreateDatasetUpload",
    {"name": (_Str(), _REQUIRED), "schema": _COLUMNS, "folder": (_Str(), _REQUIRED)},
)
_COMPLETE_UPLOAD = _Model("CompleteUploadRequest", {"part_ids": (_List(_Str()), None)})

_Query = dict[str, tuple[_Type, Any]]
_PROJECT: _Query = {"ai_project_id": _OPTIONAL_STR}
_CURSOR_PAGE: _Query = {"limit": (_Nullable(_Int()), None), "after": _OPTIONAL_STR}
_QUERIES: dict[str, _Query] = {
    "list_jobs": {**_CURSOR_PAGE, **_PROJECT},
    "create_job": _PROJECT,
    "list_events": _CURSOR_PAGE,
    "list_checkpoints": {"after": (_Str(), None), "limit": (_Int(), 10)},
    "upload_file": _PROJECT,
    "list_files": {"limit": (_Int(), 10), "purpose": (_Nullable(_PURPOSE), None), **_PROJECT},
    "list_operations": {
        "limit": (_Int(ge=1, le=100), 100),
        "cursor_time": _OPTIONAL_STR,
        **_PROJECT,
    },
    "operation_results": _CURSOR_PAGE,
    "dataset_content": {"limit": (_Int(ge=1, le=1000), 100), "offset": (_Int(ge=0), 0)},
    "dataset_upload": _PROJECT,
    "export_dataset": {"format": (_Str(), "jsonl"), "limit": (_Nullable(_Int()), None)},
}
_QUERIES.update(create_model=_PROJECT, list_models=_PROJECT, upload_model_archive=_PROJECT)


def _checked_query(request: web.Request, operation: str, problems: _Problems) -> dict[str, Any]:
    """The query parameters of ``operation``, checked (the last of a repeated one counts, as
    in Starlette); the defaults of those not given."""
    checked = {}
    for name, (kind, default) in _QUERIES[operation].items():
        values = request.query.getall(name, ())
        if not values:
            checked[name] = default
        else:
            checked[name] = kind.check(values[-1], ("query", name), problems)
    return checked


def _query(request: web.Request, operation: str) -> dict[str, Any]:
    """The checked query parameters of ``operation``, or a 422 for them."""
    problems: _Problems = []
    checked = _checked_query(request, operation, problems)
    if problems:
        raise _Unprocessable(problems)
    return checked


async def _json_body(request: web.Request) -> Any:
    """A JSON body as FastAPI reads it: ``_INVALID`` for none, JSON for a JSON content type
    (or none), the bytes otherwise; a 422 ``json_invalid`` for broken JSON."""
    raw = await request.read()
    if not raw:
        return _INVALID
    content_type = request.headers.get("Content-Type", "")
    media = content_type.split(";")[0].strip().lower()
    json_media = media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    )
    if content_type and not json_media:
        return raw
    try:
        return json.loads(raw)
    except json.JSONDecodeError as error:
        problem = _problem("json_invalid", ("body", error.pos), "JSON decode error", {})
        problem["ctx"] = {"error": error.msg}
        raise _Unprocessable([problem]) from None
    except (ValueError, RecursionError):  # not UTF-8, too deep, a number too long
        raise _Unparsable from None


def _text(raw: bytes) -> str:
    """A form field's text as Starlette decodes it: UTF-8, else Latin-1."""
    try:
        return raw.decode()
    except UnicodeDecodeError:
        return raw.decode("latin-1")


async def _form(request: web.Request) -> dict[str, Any]:
    """A form body as Starlette reads it (the last of a repeated field counts): a multipart
    body part by part (a file part streamed into memory), a URL-encoded one, or nothing for
    any other content type."""
    fields: dict[str, Any] = {}
    if request.content_type == "application/x-www-form-urlencoded":
        for name, value in parse_qsl(_text(await request.read()), keep_blank_values=True):
            fields[name] = value
        return fields
    if request.content_type != "multipart/form-data":
        return fields
    try:
        async for part in await request.multipart():
            if not isinstance(part, BodyPartReader) or not part.name:
                continue
            if part.filename is None:
                fields[part.name] = _text(await part.read())
                continue
            chunks = []
            while chunk := await part.read_chunk(1 << 16):
                chunks.append(chunk)
            fields[part.name] = _Upload(part.filename, b"".join(chunks))
    except web.HTTPException:
        raise
    except Exception:  # what FastAPI does with a body it cannot parse: 400
        raise _Unparsable from None
    return fields


class _Bucket:
    """A token bucket: ``size`` tokens, refilled at ``rate`` a second, full at first."""

    def __init__(self, size: int, now: float) -> None:
        self.tokens = float(size)
        self.updated = now

    def take(self, rate: float, size: int, now: float) -> float:
        """Take a token and return 0, or return the seconds until one is there."""
        self.tokens = min(float(size), self.tokens + (now - self.updated) * rate)
        self.updated = now
        if self.tokens >= 1 - 1e-9:  # float slack: waiting the wait we gave always works
            self.tokens = max(0.0, self.tokens - 1)
            return 0.0
        return (1 - self.tokens) / rate

    def headers(self, rate: float, size: int) -> dict[str, str]:
        return {
            "x-ratelimit-limit-requests": str(size),
            "x-ratelimit-remaining-requests": str(int(self.tokens)),
            "x-ratelimit-reset-requests": _seconds((size - self.tokens) / rate),
        }


class _SortedIds:
    """Job ids in a fixed pseudo-random order: by a hash of the id, kept in sorted blocks so
    that adding one costs O(log n + block) and reading a page O(log n + page)."""

    _BLOCK = 512

    def __init__(self) -> None:
        self._blocks: list[list[tuple[bytes, str]]] = []
        self._lasts: list[tuple[bytes, str]] = []  # each block's last item, for bisecting

    @staticmethod
    def key(job_id: str) -> tuple[bytes, str]:
        digest = hashlib.blake2b(job_id.encode(), digest_size=8, person=b"fake-tf-order")
        return digest.digest(), job_id

    def add(self, job_id: str) -> None:
        item = self.key(job_id)
        if not self._blocks:
            self._blocks.append([item])
            self._lasts.append(item)
            return
        index = min(bisect.bisect_left(self._lasts, item), len(self._blocks) - 1)
        block = self._blocks[index]
        bisect.insort(block, item)
        if len(block) > 2 * self._BLOCK:
            halves = [block[: self._BLOCK], block[self._BLOCK :]]
            self._blocks[index : index + 1] = halves
            self._lasts[index : index + 1] = [half[-1] for half in halves]
        else:
            self._lasts[index] = block[-1]

    def extend(self, job_ids: Sequence[str]) -> None:
        """Add many at once: one sort of everything, O(n log n)."""
        items = sorted(
            [item for block in self._blocks for item in block]
            + [self.key(job_id) for job_id in job_ids]
        )
        self._blocks = [items[i : i + self._BLOCK] for i in range(0, len(items), self._BLOCK)]
        self._lasts = [block[-1] for block in self._blocks]

    def after(self, job_id: str | None) -> Iterator[str]:
        """The ids after ``job_id`` (all of them for ``None``), in order."""
        first, start = 0, 0
        if job_id is not None:
            item = self.key(job_id)
            first = bisect.bisect_right(self._lasts, item)
            if first < len(self._blocks):
                start = bisect.bisect_right(self._blocks[first], item)
        for index in range(first, len(self._blocks)):
            block = self._blocks[index]
            for position in range(start, len(block)):
                yield block[position][1]
            start = 0


@dataclass
class FakeJob:
    """One scripted job. ``step`` is where it is in its lifecycle (-1: not yet started).

    It moves only when the fake serves something of it (the job, its events, a list page
    holding it), so read it through the API rather than ``status()`` here. ``created`` and
    ``final_at`` are ``time.monotonic()`` times; ``created_at`` and ``finished_at`` are unix
    seconds.
    """

    id: str
    model: str
    training_file: str
    outcome: Outcome
    running_steps: int
    total_steps: int
    step_seconds: float | None
    checkpoint_every: int
    created: float = field(default_factory=time.monotonic)
    created_at: int = field(default_factory=lambda: int(time.time()))
    finished_at: int | None = None
    step: int = -1
    cancelled_at: int | None = None
    request: dict[str, Any] = field(default_factory=dict)
    """The body it was created with, as the API read it (values coerced, documented defaults
    filled in, undeclared fields dropped); the fields the API echoes come back from it."""
    events: list[dict[str, Any]] = field(default_factory=list)
    checkpoints: list[dict[str, Any]] = field(default_factory=list)
    finish_after: float | None = None
    final_at: float | None = None
    """When it is final: known from the start for a job on a clock (``finish_after`` or
    ``step_seconds``), set when it gets there for one moved by polls, and the moment of a
    cancel for a cancelled one."""

    def __post_init__(self) -> None:
        if self.final_at is None and self._on_a_clock:
            self.final_at = self._step_at(2 + self.running_steps)

    @property
    def _on_a_clock(self) -> bool:
        """Whether time moves it (``finish_after`` or ``step_seconds``) rather than polls."""
        return self.finish_after is not None or self.step_seconds is not None

    def _step_at(self, step: int) -> float:
        """When a job on a clock is scheduled to reach ``step`` (monotonic)."""
        steps = 2 + self.running_steps
        if self.finish_after is not None:
            if step >= steps:
                return self.created + self.finish_after
            return self.created + self.finish_after * step / steps
        assert self.step_seconds is not None
        return self.created + step * self.step_seconds

    def _clock_step(self, now: float) -> int:
        """The step a job on a clock has reached at ``now``."""
        steps = 2 + self.running_steps
        if now >= self._step_at(steps):
            return steps
        duration = self._step_at(steps) - self.created
        return min(steps - 1, int((now - self.created) * steps / duration))

    @property
    def final_step(self) -> int:
        """The step at which the job is final (validating, queued, running steps, end)."""
        if self.cancelled_at is not None:
            return self.cancelled_at
        return 2 + self.running_steps

    def status(self) -> str:
        if self.step >= self.final_step:
            return "cancelled" if self.cancelled_at is not None else self.outcome
        return ("validating_files", "queued")[max(self.step, 0)] if self.step < 2 else "running"

    def trained_steps(self) -> int | None:
        running = min(self.step, self.final_step) - 1
        if running < 1:
            return None
        return min(self.total_steps, round(self.total_steps * running / self.running_steps))


ModelOutcome = Literal["active", "error"]
_NAME_TAG_LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


@dataclass
class FakeModel:
    """One custom model. It is ``validating`` when created and for its first
    ``validating_polls`` polls, then ``outcome``: ``active``, or ``error`` with
    ``status_reason``. Change ``outcome`` / ``status_reason`` of a created model (in
    ``fake.models``) to script how it ends."""

    name: str
    """The name the API gave it: full (``vendor/...-LoRa:name-abcd``) or short."""
    base_model: str
    source: str
    description: str | None = None
    outcome: ModelOutcome = "active"
    status_reason: str | None = None
    validating_polls: int = 2
    polls: int = 0
    created_at: int = field(default_factory=lambda: int(time.time()))

    @property
    def short_name(self) -> str:
        """What ``/v0/models/{name}`` also finds it by: the part after ``-LoRa:``."""
        return self.name.rpartition("-LoRa:")[2]

    def status(self) -> str:
        return "validating" if self.polls <= self.validating_polls else self.outcome


class FakeTokenFactory:
    """The fine-tuning API in process, on 127.0.0.1 (a free port unless ``port`` is given).

    Use it as ``async with``; ``url`` and ``api_key`` say where and how to reach it, and
    ``session()`` gives an ``AsyncSession`` pointed at it. ``requests`` counts the API
    requests it has answered, by path.

    ``rate_limit`` (requests a second) puts a token bucket of ``rate_burst`` tokens (default
    ``max(1, round(rate_limit))``, full at start) in front of the API, one per API key. The
    order of checks: a request without the right key is answered 401 and draws nothing; then
    a fault queued with ``fail_next`` is served as scripted, draws nothing and gets no rate
    headers; then a request finding the bucket empty is answered 429 ``{"detail": "Rate
    limit exceeded"}`` with ``Retry-After`` (whole seconds, rounded up, at least 1) and
    ``retry-after-ms`` (milliseconds until a token is there, rounded up), and counted in
    ``rate_limited``. Every other answer (2xx, 4xx such as 404, those 429s) carries
    ``x-ratelimit-limit-requests`` (the bucket size), ``x-ratelimit-remaining-requests``
    (whole tokens left) and ``x-ratelimit-reset-requests`` (until the bucket is full, like
    ``1.5s``).

    ``list_order`` is the order of ``GET /v1/fine_tuning/jobs``: ``newest_first`` (creation
    order reversed, as the API does), ``oldest_first``, or ``shuffled``, a fixed pseudo-random
    order (by a hash of each id: the same on every run, and a job added later does not move
    the others, so paging with ``after`` sees every earlier job once). A page holds 20 jobs
    unless ``limit`` says otherwise, and at most 100: the cap the API is believed to have.
    """

    def __init__(
        self,
        *,
        api_key: str = "fake-nebius-key",
        host: str = "127.0.0.1",
        port: int = 0,
        rate_limit: float | None = None,
        rate_burst: int | None = None,
        list_order: ListOrder = "newest_first",
    ) -> None:
        if rate_limit is None and rate_burst is not None:
            raise ValueError("rate_burst needs a rate_limit")
        if rate_limit is not None and not 0 < rate_limit < math.inf:
            raise ValueError(f"rate_limit must be a positive number, not {rate_limit!r}")
        if rate_limit is not None and rate_burst is None:
            rate_burst = max(1, round(rate_limit))
        if rate_burst is not None and rate_burst < 1:
            raise ValueError(f"rate_burst must be at least 1, not {rate_burst!r}")
        if list_order not in ("newest_first", "oldest_first", "shuffled"):
            raise ValueError(f"unknown list_order {list_order!r}")
        self.api_key = api_key
        self.rate_limit = rate_limit
        self.rate_burst = rate_burst
        self.rate_limited = 0
        """429s answered by the rate limiter (not those queued with ``fail_next``)."""
        self.list_order: ListOrder = list_order
        self.jobs: dict[str, FakeJob] = {}
        self.files: dict[str, dict[str, Any]] = {}
        self.file_contents: dict[str, bytes] = {}
        self.requests: dict[str, int] = {}
        self.datasets: dict[str, dict[str, Any]] = {}
        self.dataset_rows: dict[str, list[dict[str, Any]]] = {}
        self.dataset_uploads: dict[str, dict[str, Any]] = {}
        """Multipart dataset uploads by id; each one's ``parts`` list is what ``GET
        .../parts`` answers (a part sent is added there; a test may add records too)."""
        self.part_contents: dict[str, bytes] = {}
        """The bytes of each part sent, by part id."""
        self.dataset_sources: dict[str, bytes] = {}
        """The file a completed upload assembled, by the id of the dataset it made."""
        self.upload_completing_polls = 1
        """Polls a completed upload stays ``COMPLETING`` for before it is ``COMPLETED`` (or
        ``FAILED``, when the assembled bytes are not JSON Lines of objects)."""
        self.redirect_content = True
        """Whether ``GET /v1/files/{file_id}/content`` redirects to the storage (as the real
        service does) rather than answering with the content itself."""
        self.link_lifetime = 900.0
        """Seconds a signed storage link stays valid (``X-Amz-Expires``)."""
        self.models: dict[str, FakeModel] = {}
        """Custom models by the name the API gave them."""
        self.model_names: Literal["full", "short"] = "full"
        """Names given to created models: ``base-model-LoRa:name-abcd`` (as the API does
        now) or ``name-abcd`` (as it did before)."""
        self.model_validating_polls = 2
        """Polls a created model stays ``validating`` for before it is active (or in error)."""
        self._file_scripts: dict[str, tuple[list[str], str | None]] = {}
        self._host = host
        self._port = port
        self._faults: list[tuple[str | None, _Fault]] = []
        self._storage_faults: list[Handler] = []
        self._ids = itertools.count(1)
        self._buckets: dict[str, _Bucket] = {}
        self._created: list[str] = []  # job ids in the order they were added
        self._positions: dict[str, int] = {}  # job id -> index in _created
        self._shuffled = _SortedIds() if list_order == "shuffled" else None
        self._runner: web.AppRunner | None = None
        self._storage_runner: web.AppRunner | None = None
        self.url = ""
        self.storage_url = ""
        """The origin of the object storage that file content is redirected to."""
        self.storage_requests = 0
        """Requests the object storage answered."""
        self._signature = hashlib.sha256(api_key.encode()).hexdigest()[:32]

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def start(self) -> None:
        """Start serving; ``url`` is set once it listens."""
        self._runner = web.AppRunner(self._app(), access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._host, self._port)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.url = f"http://{host}:{port}"
        storage = web.Application()
        storage.router.add_get("/files/{file_id}", self._stored_content)
        self._storage_runner = web.AppRunner(storage, access_log=None, handle_signals=False)
        await self._storage_runner.setup()
        await web.TCPSite(self._storage_runner, self._host, 0).start()
        host, port = self._storage_runner.addresses[0][:2]
        self.storage_url = f"http://{host}:{port}"

    async def stop(self) -> None:
        """Stop serving and close every connection."""
        for runner in (self._runner, self._storage_runner):
            if runner is not None:
                await runner.cleanup()
        self._runner = self._storage_runner = None

    def session(self, **options: Any) -> AsyncSession:
        """An ``AsyncSession`` for this fake (``options`` go to the session as they are)."""
        return AsyncSession(self.api_key, base_url=self.url, **options)

    # -- scripting -------------------------------------------------------------------

    def add_job(
        self,
        job_id: str | None = None,
        *,
        model: str = "meta-llama/Llama-3.1-8B-Instruct",
        training_file: str = "file-training",
        outcome: Outcome = "succeeded",
        running_steps: int = 5,
        total_steps: int = 100,
        step_seconds: float | None = None,
        checkpoint_every: int = 2,
        finish_after: float | None = None,
        created_at: int | None = None,
    ) -> str:
        """Script a job and return its id.

        Each poll of ``GET /v1/fine_tuning/jobs/{id}`` (or list page that shows the job) sees
        the next step of its lifecycle:
        validating, queued, ``running_steps`` steps of training up to ``total_steps``, then
        ``outcome``. With ``step_seconds`` it moves one step per that many seconds instead;
        with ``finish_after`` its steps are spread evenly over that many seconds, and it has
        its ``outcome`` from exactly ``finish_after`` seconds after this call, however often
        it is polled. ``created_at`` (unix seconds, default now) is what the API says.
        """
        if step_seconds is not None and finish_after is not None:
            raise ValueError("give step_seconds or finish_after, not both")
        if finish_after is not None and not 0 <= finish_after < math.inf:
            raise ValueError(f"finish_after must be 0 or more seconds, not {finish_after!r}")
        job_id = job_id or f"ftjob-{next(self._ids):06d}"
        job = FakeJob(
            id=job_id,
            model=model,
            training_file=training_file,
            outcome=outcome,
            running_steps=max(1, running_steps),
            total_steps=total_steps,
            step_seconds=step_seconds,
            checkpoint_every=max(1, checkpoint_every),
            created_at=int(time.time()) if created_at is None else created_at,
            finish_after=finish_after,
        )
        self._keep(job)
        return job_id

    def add_jobs(
        self,
        count: int,
        *,
        finish_after: Sequence[float] | Callable[[int], float] | float | None = None,
        outcome: Sequence[Outcome] | Callable[[int], Outcome] | Outcome = "succeeded",
        created_at: Sequence[int] | Callable[[int], int] | int | None = None,
        model: str = "meta-llama/Llama-3.1-8B-Instruct",
        training_file: str = "file-training",
        running_steps: int = 5,
        total_steps: int = 100,
        checkpoint_every: int = 2,
    ) -> list[str]:
        """Script ``count`` jobs as ``add_job`` does and return their ids, in order.

        ``finish_after``, ``outcome`` and ``created_at`` are one value for every job, a
        sequence of ``count`` values, or a function of the job's index (0 to ``count - 1``).
        ``finish_after`` counts from this call. Cheap enough for 100,000 jobs.
        """
        if count < 0:
            raise ValueError(f"count must be 0 or more, not {count}")
        finishes = _per_job(finish_after, count, "finish_after")
        outcomes: list[Outcome] = _per_job(outcome, count, "outcome")
        now_unix = int(time.time())
        created = [now_unix if c is None else c for c in _per_job(created_at, count, "created_at")]
        if any(f is not None and not 0 <= f < math.inf for f in finishes):
            raise ValueError("every finish_after must be 0 or more seconds")
        now = time.monotonic()
        ids = [f"ftjob-{number:06d}" for number in itertools.islice(self._ids, count)]
        new = [job_id for job_id in ids if job_id not in self.jobs]
        first = len(self._created)
        self._positions.update({job_id: first + offset for offset, job_id in enumerate(new)})
        self._created.extend(new)
        if self._shuffled is not None:
            self._shuffled.extend(new)
        for index, job_id in enumerate(ids):
            self.jobs[job_id] = FakeJob(
                id=job_id,
                model=model,
                training_file=training_file,
                outcome=outcomes[index],
                running_steps=max(1, running_steps),
                total_steps=total_steps,
                step_seconds=None,
                checkpoint_every=max(1, checkpoint_every),
                created=now,
                created_at=created[index],
                finish_after=finishes[index],
            )
        return ids

    def _keep(self, job: FakeJob) -> None:
        if job.id not in self.jobs:  # a job added again under its id keeps its place
            self._positions[job.id] = len(self._created)
            self._created.append(job.id)
            if self._shuffled is not None:
                self._shuffled.add(job.id)
        self.jobs[job.id] = job

    def fail_next(
        self,
        status: int | Literal["drop", "lose-answer"] = 503,
        *,
        times: int = 1,
        retry_after: float | None = None,
        path: str | None = None,
    ) -> None:
        """Answer the next ``times`` requests (to paths containing ``path``, if given) with an
        error ``status`` (429 carries ``Retry-After`` when ``retry_after`` is set), drop the
        connection without an answer (``"drop"``), or do what the request asks and then drop
        the connection, so that the client never learns it was done (``"lose-answer"``)."""

        async def fault(request: web.Request, handler: Handler) -> web.StreamResponse:
            if status == "lose-answer":
                await self._answer(request, handler)
            if isinstance(status, str):
                if request.transport is not None:
                    request.transport.close()
                return web.Response()
            headers = None if retry_after is None else {"Retry-After": f"{retry_after:g}"}
            return _error(status, f"injected {status}", headers)

        self._faults.extend((path, fault) for _ in range(times))

    def fail_storage_next(
        self, fault: int | Literal["drop", "cut"] = 503, *, times: int = 1
    ) -> None:
        """Have the object storage answer the next ``times`` requests with an error status
        (an S3-style XML body), drop the connection (``"drop"``), or send half of the
        content and then close the connection (``"cut"``)."""

        async def answer(request: web.Request) -> web.StreamResponse:
            if fault == "cut":
                content = self.file_contents.get(request.match_info.get("file_id", ""), b"")
                response = web.StreamResponse(headers={"Content-Length": str(len(content))})
                await response.prepare(request)
                await response.write(content[: len(content) // 2])
                if request.transport is not None:
                    request.transport.close()
                return response
            if fault == "drop":
                if request.transport is not None:
                    request.transport.close()
                return web.Response()
            return _storage_error(fault, "InternalError", f"injected {fault}")

        self._storage_faults.extend(answer for _ in range(times))

    def add_model(
        self,
        name: str,
        *,
        base_model: str = "meta-llama/Meta-Llama-3.1-8B-Instruct",
        source: str = "huggingface.co/fake/adapter",
        outcome: ModelOutcome = "active",
        status_reason: str | None = None,
        validating_polls: int = 2,
    ) -> str:
        """Script a custom model under exactly ``name`` (full, with a ``/``, or short) and
        return the name. Each poll of it moves it on: ``validating`` for
        ``validating_polls`` polls, then ``outcome`` (``error`` with ``status_reason``)."""
        if outcome not in ("active", "error"):
            raise ValueError(f"outcome must be 'active' or 'error', not {outcome!r}")
        self.models[name] = FakeModel(
            name=name,
            base_model=base_model,
            source=source,
            outcome=outcome,
            status_reason=status_reason,
            validating_polls=max(0, validating_polls),
        )
        return name

    def script_file(self, file_id: str, *statuses: str, status_details: str | None = None) -> None:
        """Show these statuses to successive GETs of an uploaded file, the last one for good
        (with ``status_details``): ``script_file(id, "uploaded", "processed")``."""
        if file_id not in self.files:
            raise ValueError(f"no file {file_id!r} to script")
        if not statuses:
            raise ValueError("script_file needs at least one status")
        self._file_scripts[file_id] = (list(statuses), status_details)

    # -- the lifecycle ---------------------------------------------------------------

    def _advance(self, job: FakeJob, *, polled: bool) -> None:
        if job._on_a_clock:
            target = job._clock_step(time.monotonic())
        else:
            target = job.step + 1 if polled else job.step
        while job.step < min(target, job.final_step):
            job.step += 1
            self._record_step(job, job._step_at(job.step) if job._on_a_clock else None)

    def _record_step(self, job: FakeJob, at: float | None = None) -> None:
        """Record the step ``job`` has just reached, which it reached at ``at`` (monotonic;
        default now): its events, a checkpoint, ``finished_at`` and ``final_at``."""
        step = job.step
        now = time.monotonic()
        at = now if at is None else min(at, now)
        when = int(time.time() - (now - at))
        if step >= job.final_step:
            job.finished_at = when
            if job.final_at is None or job.final_at > at:  # polled there, or cancelled early
                job.final_at = at
        status = job.status()
        if status == "validating_files":
            self._event(job, when, "info", "Validating training file", "message")
        elif status == "queued":
            self._event(job, when, "info", "Training file validated; job queued", "message")
        elif status == "running":
            trained = job.trained_steps() or 0
            loss = round(2.0 / (1 + step), 4)
            data = {"step": trained, "total_steps": job.total_steps, "train_loss": loss}
            message = f"Step {trained}/{job.total_steps}: training loss={loss}"
            self._event(job, when, "info", message, "metrics", data)
            if (step - 2) % job.checkpoint_every == 0:
                self._checkpoint(job, when, trained, loss)
        elif status == "failed":
            self._event(job, when, "error", "Job failed: the training loss diverged", "message")
        else:
            self._event(job, when, "info", f"Job {status}", "message")

    def _event(
        self,
        job: FakeJob,
        when: int,
        level: str,
        message: str,
        kind: str,
        data: dict[str, Any] | None = None,
    ) -> None:
        job.events.append(
            {
                "id": f"ftevent-{job.id}-{len(job.events) + 1:04d}",
                "object": "fine_tuning.job.event",
                "created_at": when,
                "level": level,
                "message": message,
                "type": kind,
                "data": data,
            }
        )

    def _checkpoint(self, job: FakeJob, when: int, trained: int, loss: float) -> None:
        file_id = f"file-{job.id}-ckpt-{trained}"
        self.files[file_id] = {
            "id": file_id,
            "object": "file",
            "bytes": 0,
            "created_at": when,
            "filename": f"adapter-step-{trained}.safetensors",
            "purpose": "fine-tune-results",
            "status": "processed",
        }
        self.file_contents[file_id] = f"weights of {job.id} at step {trained}\n".encode()
        self.files[file_id]["bytes"] = len(self.file_contents[file_id])
        job.checkpoints.append(
            {
                "id": f"ftckpt-{job.id}-{trained}",
                "object": "fine_tuning.job.checkpoint",
                "created_at": when,
                "fine_tuned_model_checkpoint": f"{job.model}:ft-{job.id}:ckpt-step-{trained}",
                "fine_tuning_job_id": job.id,
                "step_number": trained,
                "metrics": {"step": float(trained), "train_loss": loss, "valid_loss": None},
                "result_files": [file_id],
            }
        )

    def _job_body(self, job: FakeJob) -> dict[str, Any]:
        status = job.status()
        final = job.step >= job.final_step
        return {
            "id": job.id,
            "object": "fine_tuning.job",
            "created_at": job.created_at,
            "finished_at": job.finished_at,
            "model": job.model,
            "fine_tuned_model": f"{job.model}:ft-{job.id}" if status == "succeeded" else None,
            "organization_id": "org-fake",
            "status": status,
            "training_file": job.training_file,
            "validation_file": job.request.get("validation_file"),
            "result_files": [c["result_files"][0] for c in job.checkpoints] if final else [],
            "seed": job.request.get("seed") or 42,
            "suffix": job.request.get("suffix"),
            "trained_tokens": (job.trained_steps() or 0) * 4096 or None,
            "trained_steps": job.trained_steps(),
            "total_steps": job.total_steps,
            "estimated_finish": None if final else self._estimated_finish(job),
            "error": (
                {"code": "training_diverged", "message": "the training loss diverged"}
                if status == "failed"
                else None
            ),
            "hyperparameters": job.request.get("hyperparameters")
            or {"batch_size": 8, "learning_rate": 1e-05, "n_epochs": 3},
            "method": job.request.get("method")
            or {
                "type": "supervised",
                "supervised": {"hyperparameters": {"batch_size": 8, "n_epochs": 3}},
            },
            "integrations": _without_secrets(job.request.get("integrations") or []),
            "from_checkpoint": _without_secrets(job.request.get("from_checkpoint")),
            "tags": job.request.get("tags") or [],
            "user_provided_suffix": job.request.get("suffix"),
        }

    @staticmethod
    def _estimated_finish(job: FakeJob) -> int:
        if job.final_at is not None:
            return int(time.time() + job.final_at - time.monotonic())
        return int(job.created_at + job.final_step * _POLL_STEP_SECONDS)

    # -- the HTTP side ---------------------------------------------------------------

    def _app(self) -> web.Application:
        app = web.Application(middlewares=[self._middleware])
        handlers: list[tuple[Route[Any], Handler]] = [
            (routes.LIST_JOBS, self._list_jobs),
            (routes.CREATE_JOB, self._create_job),
            (routes.GET_JOB, self._get_job),
            (routes.CANCEL_JOB, self._cancel_job),
            (routes.LIST_EVENTS, self._list_events),
            (routes.LIST_CHECKPOINTS, self._list_checkpoints),
            (routes.GET_CHECKPOINT, self._checkpoint_get),
            (routes.UPLOAD_FILE, self._upload_file),
            (routes.LIST_FILES, self._list_files),
            (routes.GET_FILE, self._get_file),
            (routes.FILE_CONTENT, self._file_content),
            (routes.FILE_LINK, self._file_link),
            (routes.DELETE_FILE, self._delete_file),
            (routes.LIST_OPERATIONS, self._list_operations),
            (routes.GET_OPERATION, self._get_operation),
            (routes.GET_OPERATION_ERRORS, self._operation_errors),
            (routes.GET_OPERATION_RESULTS, self._operation_results),
            (routes.CREATE_DATASET, self._create_dataset),
            (routes.GET_DATASET, self._get_dataset),
            (routes.UPDATE_DATASET, self._update_dataset),
            (routes.DATASET_CONTENT, self._dataset_content),
            (routes.CREATE_DATASET_UPLOAD, self._create_dataset_upload),
            (routes.LIST_DATASET_UPLOAD_PARTS, self._list_dataset_upload_parts),
            (routes.COMPLETE_DATASET_UPLOAD, self._complete_dataset_upload),
            (routes.GET_DATASET_UPLOAD, self._get_dataset_upload),
            (routes.UPLOAD_DATASET_PART, self._upload_dataset_part),
            (routes.CANCEL_DATASET_UPLOAD, self._cancel_dataset_upload),
            (routes.EXPORT_DATASET, self._export_dataset),
            (routes.CREATE_MODEL, self._create_model),
            (routes.LIST_MODELS, self._list_models),
            (routes.UPLOAD_MODEL_ARCHIVE, self._upload_model_archive),
            (routes.GET_MODEL, self._get_model),
            (routes.GET_FULL_MODEL, self._get_model),
            (routes.DELETE_MODEL, self._delete_model),
            (routes.DELETE_FULL_MODEL, self._delete_model),
        ]
        for route, handler in handlers:
            # an id is any one path segment, as in Starlette (aiohttp's own default also
            # turns away "{" and "}")
            path = _ANY_SEGMENT.sub(r"{\1:[^/]+}", route.template)
            app.router.add_route(route.method, path, handler)
        return app

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        self.requests[request.path] = self.requests.get(request.path, 0) + 1
        authorization = request.headers.get("Authorization")
        if authorization != f"Bearer {self.api_key}":
            return _error(401, "Invalid or missing API key")
        for index, (path, fault) in enumerate(self._faults):
            if path is None or path in request.path:
                del self._faults[index]
                return await fault(request, handler)
        if self.rate_limit is None or self.rate_burst is None:
            return await self._answer(request, handler)
        rate, size, now = self.rate_limit, self.rate_burst, time.monotonic()
        bucket = self._buckets.get(authorization)
        if bucket is None:
            bucket = self._buckets[authorization] = _Bucket(size, now)
        wait = bucket.take(rate, size, now)
        headers = bucket.headers(rate, size)
        if wait > 0:
            self.rate_limited += 1
            headers["Retry-After"] = str(max(1, math.ceil(wait)))
            headers["retry-after-ms"] = str(math.ceil(wait * 1000))
            return _error(429, "Rate limit exceeded", headers)
        response = await self._answer(request, handler)
        if not response.prepared:
            response.headers.update(headers)
        return response

    @staticmethod
    async def _answer(request: web.Request, handler: Handler) -> web.StreamResponse:
        """The handler's answer; refused input as the API answers it (422 with FastAPI's
        ``detail`` list, 400 for a body that cannot be parsed), aiohttp's own errors (404,
        405, 413) as JSON."""
        try:
            return await handler(request)
        except _Unprocessable as refused:
            return _json({"detail": refused.problems}, status=422)
        except _Unparsable:
            return _error(400, "There was an error parsing the body")
        except web.HTTPException as error:
            return _from_exception(error)

    def _job(self, request: web.Request) -> FakeJob:
        job = self.jobs.get(request.match_info["job_id"])
        if job is None:
            raise _not_found(f"Job {request.match_info['job_id']} not found")
        return job

    async def _get_job(self, request: web.Request) -> web.Response:
        job = self._job(request)
        self._advance(job, polled=True)
        return _json(self._job_body(job))

    async def _list_jobs(self, request: web.Request) -> web.Response:
        query = _query(request, "list_jobs")
        limit = 20 if query["limit"] is None else query["limit"]  # the API's default
        limit = min(max(1, limit), _MAX_JOBS_LIMIT)
        after = self._job_ids_after(query["after"])
        ids = list(itertools.islice(after, limit + 1))  # one more tells whether there is more
        data = []
        for job_id in ids[:limit]:
            job = self.jobs[job_id]
            self._advance(job, polled=True)
            data.append(self._job_body(job))
        return _json({"object": "list", "data": data, "has_more": len(ids) > limit})

    def _job_ids_after(self, after: str | None) -> Iterator[str]:
        """Job ids in ``list_order``, from just after ``after`` (none if it is unknown)."""
        if after is not None and after not in self._positions:
            return iter(())
        if self._shuffled is not None:
            return self._shuffled.after(after)
        created = self._created
        if self.list_order == "oldest_first":
            start = 0 if after is None else self._positions[after] + 1
            return (created[index] for index in range(start, len(created)))
        end = len(created) if after is None else self._positions[after]
        return (created[index] for index in range(end - 1, -1, -1))

    async def _create_job(self, request: web.Request) -> web.Response:
        body = await self._checked_body(request, _FINE_TUNING_REQUEST, "create_job")
        if body["training_file"] not in self.files:
            return _error(400, f"Training file {body['training_file']} not found")
        job_id = self.add_job(model=body["model"], training_file=body["training_file"])
        self.jobs[job_id].request = body
        return _json(self._job_body(self.jobs[job_id]))

    async def _cancel_job(self, request: web.Request) -> web.Response:
        job = self._job(request)
        self._advance(job, polled=False)
        if job.step >= job.final_step:
            return _error(400, f"Job {job.id} is already {job.status()} and cannot be cancelled")
        job.cancelled_at = job.step
        self._record_step(job)
        return _json(self._job_body(job))

    async def _list_events(self, request: web.Request) -> web.Response:
        query = _query(request, "list_events")
        job = self._job(request)
        self._advance(job, polled=False)
        limit = 20 if query["limit"] is None else query["limit"]
        page = _page(list(reversed(job.events)), limit, query["after"])  # newest first
        del page["first_id"], page["last_id"]
        return _json(page)

    async def _list_checkpoints(self, request: web.Request) -> web.Response:
        query = _query(request, "list_checkpoints")
        job = self._job(request)
        self._advance(job, polled=False)
        return _json(_page(job.checkpoints, query["limit"], query["after"]))

    async def _checkpoint_get(self, request: web.Request) -> web.Response:
        job = self._job(request)
        for checkpoint in job.checkpoints:
            if checkpoint["id"] == request.match_info["checkpoint_id"]:
                return _json(checkpoint)
        return _error(404, "Checkpoint not found")

    async def _upload_file(self, request: web.Request) -> web.Response:
        problems: _Problems = []
        _checked_query(request, "upload_file", problems)
        form = await _form(request)
        checked = {}
        for name, (kind, _) in _UPLOAD_FORM.items():
            value = form.get(name)
            if value is None or value == "":  # FastAPI takes an empty form field for none
                problems.append(_problem("missing", ("body", name), "Field required", None))
            else:
                checked[name] = kind.check(value, ("body", name), problems)
        if problems:
            raise _Unprocessable(problems)
        upload: _Upload = checked["file"]
        file_id = f"file-{next(self._ids):06d}"
        self.file_contents[file_id] = upload.content
        self.files[file_id] = {
            "id": file_id,
            "object": "file",
            "bytes": len(upload.content),
            "created_at": int(time.time()),
            "filename": _shown(upload.filename) or "upload.jsonl",
            "purpose": checked["purpose"],
            "status": "processed",
            "status_details": None,
        }
        return _json(self.files[file_id])

    async def _list_files(self, request: web.Request) -> web.Response:
        query = _query(request, "list_files")
        purpose = query["purpose"]
        files = (f for f in self.files.values() if purpose in (None, f["purpose"]))
        limit = min(max(1, query["limit"]), len(self.files))  # the API's default is 10
        return _json({"object": "list", "data": list(itertools.islice(files, limit))})

    def _file(self, request: web.Request) -> str:
        file_id = request.match_info["file_id"]
        if file_id not in self.files:
            raise _not_found(f"File {file_id} not found")
        return file_id

    async def _get_file(self, request: web.Request) -> web.Response:
        file_id = self._file(request)
        self._step_file(file_id)
        return _json(self.files[file_id])

    async def _file_content(self, request: web.Request) -> web.Response:
        file_id = self._file(request)
        if not self.redirect_content:
            return web.Response(
                body=self.file_contents.get(file_id, b""), content_type="application/octet-stream"
            )
        raise web.HTTPFound(self._signed_link(f"/files/{file_id}"))

    async def _file_link(self, request: web.Request) -> web.Response:
        return _json({"url": self._signed_link(f"/files/{self._file(request)}")})

    async def _delete_file(self, request: web.Request) -> web.Response:
        file_id = self._file(request)
        del self.files[file_id]
        self.file_contents.pop(file_id, None)
        return _json({"id": file_id, "object": "file", "deleted": True})

    def _signed_link(self, path: str) -> str:
        """A link to ``path`` on the storage, valid for ``link_lifetime`` seconds."""
        issued = time.strftime(_AMZ_DATE, time.gmtime())
        lifetime = f"{self.link_lifetime:g}"
        signature = self._link_signature(path, issued, lifetime)
        query = f"X-Amz-Date={issued}&X-Amz-Expires={lifetime}&X-Amz-Signature={signature}"
        return f"{self.storage_url}{path}?{query}"

    def _link_signature(self, path: str, issued: str, lifetime: str) -> str:
        return hashlib.sha256(f"{self._signature}{path}/{issued}/{lifetime}".encode()).hexdigest()

    def _storage_refusal(self, request: web.Request) -> web.Response | None:
        """Why the storage refuses ``request`` (as S3 does), or ``None``."""
        self.storage_requests += 1
        if "Authorization" in request.headers:
            return _storage_error(
                400,
                "InvalidArgument",
                "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, "
                "Signature query string parameter or the Authorization header should be "
                "specified",
            )
        query = request.query
        issued, lifetime = query.get("X-Amz-Date", ""), query.get("X-Amz-Expires", "")
        if query.get("X-Amz-Signature") != self._link_signature(request.path, issued, lifetime):
            return _storage_error(403, "SignatureDoesNotMatch", "The signature does not match")
        # signed above, so both are as the fake wrote them
        expires = calendar.timegm(time.strptime(issued, _AMZ_DATE)) + float(lifetime)
        if time.time() >= expires:
            return _storage_error(403, "AccessDenied", "Request has expired")
        return None

    async def _stored_content(self, request: web.Request) -> web.StreamResponse:
        """Object storage: a signed link's content, for no other credentials."""
        refusal = self._storage_refusal(request)
        if refusal is not None:
            return refusal
        if self._storage_faults:
            return await self._storage_faults.pop(0)(request)
        content = self.file_contents.get(request.match_info["file_id"])
        if content is None:
            return _storage_error(404, "NoSuchKey", "The specified key does not exist.")
        return web.Response(body=content, content_type="application/octet-stream")

    def _operation_body(self, job: FakeJob) -> dict[str, Any]:
        status = job.status()
        return {
            "id": job.id,
            "type": "finetuning",
            "status": _OPERATION_STATUS.get(status, status),
            "params": {"model": job.model},
            "src": [{"id": job.training_file, "version": "1"}],
            "dst": [],
            "created_at": job.created_at,
        }

    async def _list_operations(self, request: web.Request) -> web.Response:
        limit = _query(request, "list_operations")["limit"]  # 1 to 100, 100 if not given
        newest = itertools.islice(reversed(self._created), limit)
        operations = []
        for job_id in newest:
            job = self.jobs[job_id]
            self._advance(job, polled=False)
            operations.append(self._operation_body(job))
        return _json({"object": "list", "data": operations})

    def _operation(self, request: web.Request, *, polled: bool = False) -> FakeJob:
        job = self.jobs.get(request.match_info["operation_id"])
        if job is None:
            raise _not_found("Operation not found")
        self._advance(job, polled=polled)
        return job

    async def _get_operation(self, request: web.Request) -> web.Response:
        return _json(self._operation_body(self._operation(request, polled=True)))

    async def _operation_errors(self, request: web.Request) -> web.Response:
        job = self._operation(request)
        errors = ["the training loss diverged"] if job.status() == "failed" else []
        return _json({"object": "list", "data": errors})

    async def _operation_results(self, request: web.Request) -> web.Response:
        query = _query(request, "operation_results")
        job = self._operation(request)
        limit = 10 if query["limit"] is None else query["limit"]
        return _json(_page(job.checkpoints, limit, query["after"]))

    # -- custom models ---------------------------------------------------------------

    def _step_file(self, file_id: str) -> None:
        script = self._file_scripts.get(file_id)
        if script is None:
            return
        statuses, details = script
        file = self.files[file_id]
        if len(statuses) > 1:
            file["status"], file["status_details"] = statuses.pop(0), None
        else:
            file["status"], file["status_details"] = statuses[0], details

    def _model_name(self, name: str, base_model: str) -> str:
        digest = hashlib.sha256(f"{next(self._ids)}:{name}".encode()).digest()
        tag = "".join(_NAME_TAG_LETTERS[byte % len(_NAME_TAG_LETTERS)] for byte in digest[:4])
        if self.model_names == "short":
            return f"{name}-{tag}"
        return f"{base_model}-LoRa:{name}-{tag}"

    def _model_body(self, model: FakeModel, status: str | None = None) -> dict[str, Any]:
        job_id, colon, checkpoint_id = model.source.partition(":")
        from_checkpoint = bool(colon) and job_id in self.jobs
        status = status or model.status()
        return {
            "type": "text2text",
            "name": model.name,
            "base_model": model.base_model,
            "source": model.source,
            "status": status,
            "status_reason": model.status_reason if status == "error" else None,
            "checkpoint_id": checkpoint_id if from_checkpoint else None,
            "job_id": job_id if from_checkpoint else None,
            "file_id": model.source if model.source in self.files else None,
            "url": model.source if "huggingface.co/" in model.source else None,
            "created_at": model.created_at,
            "description": model.description,
            "vendor": model.base_model.partition("/")[0] or "custom",
            "tags": ["lora"],
            "use_cases": ["lora"],
            "context_window_k": 128,
            "size_b": 8.03,
        }

    def _source_problem(self, source: str) -> tuple[str | None, str | None]:
        """Why ``source`` cannot be deployed (a 400), and why the model will end in error."""
        if "huggingface.co/" in source:
            return None, None
        if source in self.files:
            content = self.file_contents.get(source, b"")
            try:
                with zipfile.ZipFile(io.BytesIO(content)) as archive:
                    names = set(archive.namelist())
            except zipfile.BadZipFile:
                return None, "the uploaded file is not a zip archive"
            if "adapter_config.json" not in names:
                return None, "adapter_config.json not found in the archive"
            return None, None
        job_id, colon, checkpoint_id = source.partition(":")
        job = self.jobs.get(job_id) if colon else None
        if job is None or all(c["id"] != checkpoint_id for c in job.checkpoints):
            return f"Source {source} not found", None
        return None, None

    async def _create_model(self, request: web.Request) -> web.Response:
        body = await self._checked_body(request, _CUSTOM_MODEL_REQUEST, "create_model")
        refused, reason = self._source_problem(body["source"])
        if refused is not None:
            return _error(400, refused)
        name = self._model_name(body["name"], body["base_model"])
        model = FakeModel(
            name=name,
            base_model=body["base_model"],
            source=body["source"],
            description=body.get("description"),
            outcome="active" if reason is None else "error",
            status_reason=reason,
            validating_polls=self.model_validating_polls,
        )
        self.models[name] = model
        return _json(self._model_body(model))

    async def _list_models(self, request: web.Request) -> web.Response:
        _query(request, "list_models")
        return _json([self._model_body(model) for model in self.models.values()])

    async def _upload_model_archive(self, request: web.Request) -> web.Response:
        problems: _Problems = []
        _checked_query(request, "upload_model_archive", problems)
        form = await _form(request)
        value = form.get("file")
        upload = None
        if value is None or value == "":
            problems.append(_problem("missing", ("body", "file"), "Field required", None))
        else:
            upload = _MODEL_ARCHIVE_FORM["file"][0].check(value, ("body", "file"), problems)
        if problems:
            raise _Unprocessable(problems)
        assert isinstance(upload, _Upload)
        file_id = f"file-{next(self._ids):06d}"
        self.file_contents[file_id] = upload.content
        self.files[file_id] = {
            "id": file_id,
            "object": "file",
            "bytes": len(upload.content),
            "created_at": int(time.time()),
            "filename": _shown(upload.filename) or "adapter.zip",
            "purpose": "custom-model",
            "status": "processed",
            "status_details": None,
        }
        return _json(self.files[file_id])

    def _model(self, request: web.Request) -> FakeModel:
        info = request.match_info
        name = f"{info['vendor']}/{info['full_name']}" if "vendor" in info else info["name"]
        model = self.models.get(name)
        if model is None and "vendor" not in info:
            model = next((m for m in self.models.values() if m.short_name == name), None)
        if model is None:
            raise _not_found(f"Model {name} not found")
        return model

    async def _get_model(self, request: web.Request) -> web.Response:
        model = self._model(request)
        model.polls += 1
        return _json(self._model_body(model))

    async def _delete_model(self, request: web.Request) -> web.Response:
        model = self._model(request)
        del self.models[model.name]
        return _json(self._model_body(model, "deleted"))

    # -- datasets ----------------------------------------------------------------------

    @staticmethod
    async def _checked_body(request: web.Request, kind: _Type, operation: str | None = None) -> Any:
        """A JSON body checked against ``kind`` (and the query of ``operation``), or a 422."""
        problems: _Problems = []
        if operation is not None:
            _checked_query(request, operation, problems)
        body = await _json_body(request)
        if body is _INVALID or body is None:
            problems.append(_problem("missing", ("body",), "Field required", None))
        else:
            body = kind.check(body, ("body",), problems)
        if problems:
            raise _Unprocessable(problems)
        return body

    def _new_dataset(
        self, name: str, schema: list[Any], folder: str, rows: list[dict[str, Any]]
    ) -> dict[str, Any]:
        dataset_id = f"dataset-{next(self._ids):06d}"
        self.dataset_rows[dataset_id] = rows
        self.datasets[dataset_id] = {
            "id": dataset_id,
            "object": "dataset",
            "type": "dataset",
            "name": name,
            "status": "READY",
            "schema": schema,
            "metadata": {"rows": len(rows)},
            "folder": folder,
            "current_version": "1",
            "created_at": int(time.time()),
            "error": None,
            "ai_project_id": None,
        }
        return self.datasets[dataset_id]

    def _dataset(self, request: web.Request) -> dict[str, Any]:
        dataset = self.datasets.get(request.match_info["dataset_id"])
        if dataset is None:
            raise _not_found(f"Dataset {request.match_info['dataset_id']} not found")
        return dataset

    async def _create_dataset(self, request: web.Request) -> web.Response:
        body = _CREATE_DATASET_FROM_ROWS.check(
            await self._checked_body(request, _CREATE_DATASET), ("body",), []
        )
        if body is _INVALID:  # valid only as the S3 kind, which the fake does not play
            return _error(400, "Only datasets created from rows are supported")
        dataset = self._new_dataset(body["name"], body["schema"], body["folder"], body["rows"])
        dataset["ai_project_id"] = body["ai_project_id"]
        return _json(dataset)

    async def _get_dataset(self, request: web.Request) -> web.Response:
        return _json(self._dataset(request))

    async def _update_dataset(self, request: web.Request) -> web.Response:
        body = await self._checked_body(request, _PATCH_DATASET)
        dataset = self._dataset(request)
        dataset.update({name: value for name, value in body.items() if value is not None})
        return _json(dataset)

    async def _dataset_content(self, request: web.Request) -> web.Response:
        query = _query(request, "dataset_content")
        rows = self.dataset_rows[self._dataset(request)["id"]]
        start = query["offset"]
        return _json({"object": "list", "data": rows[start : start + query["limit"]]})

    def _dataset_upload(self, request: web.Request) -> dict[str, Any]:
        upload = self.dataset_uploads.get(request.match_info["upload_id"])
        if upload is None:
            raise _not_found(f"Upload {request.match_info['upload_id']} not found")
        return upload

    @staticmethod
    def _upload_body(upload: dict[str, Any]) -> dict[str, Any]:
        return {key: upload[key] for key in ("id", "upload_info")}

    async def _create_dataset_upload(self, request: web.Request) -> web.Response:
        body = await self._checked_body(request, _CREATE_DATASET_UPLOAD, "dataset_upload")
        upload_id = f"upload-{next(self._ids):06d}"
        self.dataset_uploads[upload_id] = {
            "id": upload_id,
            "upload_info": {
                "status": "PENDING",
                "dataset": body,
                "created_at": int(time.time()),
                "error": None,
                "completed_at": None,
                "ai_project_id": request.query.get("ai_project_id"),
            },
            "parts": [],
        }
        return _json(self._upload_body(self.dataset_uploads[upload_id]))

    async def _list_dataset_upload_parts(self, request: web.Request) -> web.Response:
        _query(request, "dataset_upload")
        return _json({"object": "list", "data": self._dataset_upload(request)["parts"]})

    async def _upload_dataset_part(self, request: web.Request) -> web.Response:
        _query(request, "dataset_upload")
        upload = self._dataset_upload(request)
        content = await request.read()
        status = upload["upload_info"]["status"]
        if status != "PENDING":
            return _error(400, f"Upload {upload['id']} is {status}: it takes no more parts")
        if not content:
            return _error(400, "A part needs at least one byte")
        part = {
            "id": f"part-{next(self._ids):06d}",
            "upload_id": upload["id"],
            "status": "UPLOADED",
            "created_at": int(time.time()),
        }
        upload["parts"].append(part)
        self.part_contents[part["id"]] = content
        return _json(part)

    async def _get_dataset_upload(self, request: web.Request) -> web.Response:
        _query(request, "dataset_upload")
        upload = self._dataset_upload(request)
        info = upload["upload_info"]
        if info["status"] == "COMPLETING":
            upload["completing_polls"] -= 1
            if upload["completing_polls"] < 0:
                self._assemble(upload)
        return _json(self._upload_body(upload))

    async def _cancel_dataset_upload(self, request: web.Request) -> web.Response:
        _query(request, "dataset_upload")
        upload = self._dataset_upload(request)
        info = upload["upload_info"]
        if info["status"] not in ("PENDING", "COMPLETING"):
            return _error(400, f"Upload {upload['id']} is already {info['status']}")
        info.update(status="CANCELLED", completed_at=int(time.time()))
        return _json(self._upload_body(upload))

    async def _complete_dataset_upload(self, request: web.Request) -> web.Response:
        body = await self._checked_body(request, _COMPLETE_UPLOAD, "dataset_upload")
        upload = self._dataset_upload(request)
        info = upload["upload_info"]
        if info["status"] != "PENDING":
            return _error(400, f"Upload {upload['id']} is already {info['status']}")
        parts = {part.get("id"): part for part in upload["parts"]}
        part_ids = list(parts) if body["part_ids"] is None else body["part_ids"]
        unknown = [part_id for part_id in part_ids if part_id not in parts]
        if unknown or not part_ids:
            return _error(400, f"Unknown or missing parts: {unknown}")
        upload["part_ids"] = part_ids
        upload["completing_polls"] = self.upload_completing_polls
        info["status"] = "COMPLETING"
        if self.upload_completing_polls <= 0:
            self._assemble(upload)
        return _json(self._upload_body(upload))

    def _assemble(self, upload: dict[str, Any]) -> None:
        """The dataset of a completed upload: its parts' bytes in ``part_ids`` order, read as
        JSON Lines (the upload ``FAILED`` if they are not)."""
        info = upload["upload_info"]
        content = b"".join(self.part_contents.get(part_id, b"") for part_id in upload["part_ids"])
        rows, problem = _json_lines_rows(content)
        if problem is not None:
            info.update(status="FAILED", completed_at=int(time.time()), error=problem)
            return
        planned = info["dataset"]
        dataset = self._new_dataset(planned["name"], planned["schema"], planned["folder"], rows)
        self.dataset_sources[dataset["id"]] = content
        info.update(status="COMPLETED", completed_at=int(time.time()), dataset=dataset)

    async def _export_dataset(self, request: web.Request) -> web.Response:
        query = _query(request, "export_dataset")
        dataset = self._dataset(request)
        if query["format"] not in ("jsonl", "csv"):
            return _error(400, f"Unsupported export format {query['format']!r}")
        rows = self.dataset_rows[dataset["id"]]
        if query["limit"] is not None:
            rows = rows[: max(0, query["limit"])]
        body = _exported(dataset, rows, query["format"])
        return web.Response(body=body, content_type="text/plain", charset="utf-8")

"""Properties of the pure parts, for any input: the response decoders, ``parse_retry_after``
and ``path_segment``."""

from __future__ import annotations

import contextlib
import json
import math
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any
from urllib.parse import unquote

import msgspec
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from nebius_ft_async import _models
from nebius_ft_async._errors import BAD_BODY
from nebius_ft_async._retry import parse_retry_after
from nebius_ft_async._urls import path_segment

PROPERTIES = settings(
    max_examples=200,
    deadline=None,
    derandomize=True,  # the same inputs on every run
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)

# -- decoding any response -----------------------------------------------------------------

DECODERS = {
    name: decoder
    for name, decoder in vars(_models).items()
    if isinstance(decoder, msgspec.json.Decoder)
}
"""Every cached decoder of ``_models`` (``job_decoder``, ``event_page_decoder``, ...)."""

DECODE_ERRORS = BAD_BODY
"""What the session catches when it decodes a body (``_errors.BAD_BODY``: msgspec's errors,
and what decoding hostile JSON raises besides) and turns into ``ResponseDecodeError``."""

FIELD_NAMES = sorted(
    {
        name
        for model in vars(_models).values()
        if isinstance(model, type) and issubclass(model, msgspec.Struct)
        for name in model.__struct_fields__
    }
)
"""Every field name of every model, so that generated objects look like the API's."""

SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats()  # NaN and infinities too: JSON has none, json.dumps writes them anyway
    | st.text(max_size=8)
    | st.sampled_from(["running", "succeeded", "info", "metrics", "file", "1e400", "-1", ""])
)
KEYS = st.sampled_from(FIELD_NAMES) | st.text(max_size=6)
JSON = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(KEYS, inner, max_size=6),
    max_leaves=25,
)
"""Any JSON value, its objects mostly keyed by the models' field names."""


def decodes_or_refuses(decoder: msgspec.json.Decoder[Any], body: bytes) -> None:
    with contextlib.suppress(*DECODE_ERRORS):
        decoder.decode(body)


@pytest.mark.parametrize("name", sorted(DECODERS))
@PROPERTIES
@given(value=JSON)
def test_any_json_decodes_or_is_a_decode_error(name: str, value: Any) -> None:
    decodes_or_refuses(DECODERS[name], json.dumps(value).encode())


@pytest.mark.parametrize("name", sorted(DECODERS))
@PROPERTIES
@given(body=st.binary(max_size=64) | st.text(max_size=32).map(str.encode))
@example(body=b'{"id": "x", "data": "\\ud800"}')  # an escaped lone surrogate
@example(body=b"\xef\xbb\xbf{}")  # a byte order mark
@example(body=b'{"id": 1e400, "created_at": 1e400}')
def test_any_bytes_decode_or_are_a_decode_error(name: str, body: bytes) -> None:
    decodes_or_refuses(DECODERS[name], body)


DEEP = b'{"x":' + b"[" * 100_000 + b"]" * 100_000 + b"}"
"""An object whose one unknown field holds arrays nested 100,000 deep."""


@pytest.mark.parametrize("name", sorted(DECODERS))
def test_deeply_nested_json_is_a_decode_error(name: str) -> None:
    # msgspec raises RecursionError here, even in a field it skips: the session catches it
    decodes_or_refuses(DECODERS[name], DEEP)


# -- Retry-After --------------------------------------------------------------------------

HTTP_DATES = st.builds(
    lambda day, month, year, time, zone: f"{day} {month} {year} {time} {zone}",
    st.sampled_from(["Mon, 01", "Sun, 31", "Fri, 29", "00", "99"]),
    st.sampled_from(["Jan", "Feb", "Dec", "Foo"]),
    st.sampled_from(["0", "1", "70", "1969", "1970", "2038", "9999", "10000", "99999999999999"])
    | st.integers(min_value=-(10**30), max_value=10**30).map(str),
    st.sampled_from(["00:00:00", "23:59:60", "99:99:99", "12:00"]),
    st.sampled_from(["GMT", "UTC", "+0000", "-2359", "+9999", "EST", "XYZ", ""]),
)
NUMBERS = st.sampled_from(
    ["1e400", "-1e400", "nan", "-nan", "inf", "-inf", "Infinity", "-0", "0", "1_0", "0x10"]
) | st.floats().map(repr)
HEADER_VALUES = NUMBERS | HTTP_DATES | st.text(max_size=40)


@PROPERTIES
@given(
    retry_after=st.none() | HEADER_VALUES,
    retry_after_ms=st.none() | HEADER_VALUES,
    now=st.none() | st.floats(min_value=0, max_value=4e9),
)
@example(retry_after="Mon, 01 Jan 10000000000000000000 00:00:00 GMT", retry_after_ms=None, now=None)
@example(retry_after="Fri, 31 Dec 9999 23:59:59 -2359", retry_after_ms=None, now=None)
@example(retry_after="Mon, 01 Jan 0001 00:00:00 +2359", retry_after_ms=None, now=None)
@example(retry_after="-0", retry_after_ms="nan", now=None)
@example(retry_after=None, retry_after_ms="1e400", now=None)
def test_retry_after_is_none_or_a_finite_wait(
    retry_after: str | None, retry_after_ms: str | None, now: float | None
) -> None:
    headers = {"retry-after": retry_after, "retry-after-ms": retry_after_ms}
    wait = parse_retry_after({k: v for k, v in headers.items() if v is not None}, now)
    assert wait is None or (isinstance(wait, float) and math.isfinite(wait) and wait >= 0)


@PROPERTIES
@given(
    st.datetimes(
        min_value=datetime(1000, 1, 2),  # email.utils reads years below 100 as 19xx or 20xx
        max_value=datetime(9999, 12, 30),
        timezones=st.timezones(),
    )
)
def test_an_http_date_is_the_wait_until_it(when: datetime) -> None:
    header = format_datetime(when.astimezone(UTC), usegmt=True)
    now = 1_700_000_000.0
    wait = parse_retry_after({"retry-after": header}, now)
    # an HTTP date has whole seconds; dropped before timestamp(), whose float cannot hold
    # 999,997 µs past the year 3000 and rounds them up to the next second
    assert wait == max(0.0, when.replace(microsecond=0).timestamp() - now)


# -- path segments ------------------------------------------------------------------------


@PROPERTIES
@given(st.text() | st.sampled_from([".", "..", "...", "/", "?", "#", "%", "%2E", "a/../b", ""]))
@example("\ud800")  # a lone surrogate: no UTF-8 for it
def test_a_path_segment_stays_one_segment(value: str) -> None:
    try:
        segment = path_segment(value)
    except ValueError:
        return
    assert isinstance(segment, str)
    assert not {"/", "?", "#"} & set(segment)
    assert segment not in (".", "..")
    assert unquote(segment) == value

"""Unit tests for nebius_ft_async._urls: base URL, path segments and page queries."""

from __future__ import annotations

import re
from typing import Any

import pytest

from nebius_ft_async._errors import ConfigurationError
from nebius_ft_async._urls import (
    DEFAULT_BASE_URL,
    is_loopback_host,
    normalize_base_url,
    page_query,
    path_segment,
)

# --- normalize_base_url -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("https://api.tokenfactory.nebius.com", "https://api.tokenfactory.nebius.com"),
        ("https://api.tokenfactory.nebius.com/", "https://api.tokenfactory.nebius.com"),
        ("https://api.tokenfactory.nebius.com/v1", "https://api.tokenfactory.nebius.com"),
        ("https://api.tokenfactory.nebius.com/v1/", "https://api.tokenfactory.nebius.com"),
        ("https://api.tokenfactory.nebius.com//", "https://api.tokenfactory.nebius.com"),
        ("  https://api.tokenfactory.nebius.com/v1  ", "https://api.tokenfactory.nebius.com"),
        ("https://proxy.example:8443/nebius/v1", "https://proxy.example:8443/nebius"),
        ("https://proxy.example/prefix/", "https://proxy.example/prefix"),
    ],
)
def test_normalize_strips_trailing_slash_and_v1(raw: str, expected: str) -> None:
    assert normalize_base_url(raw) == expected


def test_normalize_keeps_https() -> None:
    assert normalize_base_url(DEFAULT_BASE_URL).startswith("https://")
    assert normalize_base_url(DEFAULT_BASE_URL) == DEFAULT_BASE_URL


def test_normalize_only_strips_a_whole_v1_segment() -> None:
    assert normalize_base_url("https://host.example/apiv1") == "https://host.example/apiv1"
    assert normalize_base_url("https://host.example/v10") == "https://host.example/v10"


@pytest.mark.parametrize(
    "raw",
    [
        "http://api.tokenfactory.nebius.com",
        "http://api.tokenfactory.nebius.com/v1",
        "http://10.0.0.5:8000",
        "http://localhost.evil.example",
        "http://127.0.0.1.nip.io",
    ],
)
def test_plain_http_refused_for_non_loopback_host(raw: str) -> None:
    with pytest.raises(ConfigurationError, match="http://"):
        normalize_base_url(raw)


def test_plain_http_refusal_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="refusing plain http:// base_url for non-loopback host"):
        normalize_base_url("http://api.tokenfactory.nebius.com")


def test_plain_http_allowed_with_allow_insecure_http() -> None:
    result = normalize_base_url("http://ft.internal.example/v1/", allow_insecure_http=True)

    assert result == "http://ft.internal.example"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("http://127.0.0.1", "http://127.0.0.1"),
        ("http://127.0.0.1:8000/v1", "http://127.0.0.1:8000"),
        ("http://127.5.6.7:9000/", "http://127.5.6.7:9000"),
        ("http://localhost:8080/v1/", "http://localhost:8080"),
        ("http://LOCALHOST", "http://LOCALHOST"),
        ("http://[::1]:8080/v1", "http://[::1]:8080"),
        ("http://[::1]", "http://[::1]"),
    ],
)
def test_plain_http_allowed_for_loopback(raw: str, expected: str) -> None:
    assert normalize_base_url(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "ftp://api.tokenfactory.nebius.com",
        "ws://localhost:8000",
        "file:///etc/passwd",
        "api.tokenfactory.nebius.com",
        "https://",
        "",
    ],
)
def test_non_http_scheme_or_missing_host_refused(raw: str) -> None:
    with pytest.raises(ConfigurationError, match="http"):
        normalize_base_url(raw)


@pytest.mark.parametrize(
    "raw",
    [
        "https://user:s3cret-pw@api.tokenfactory.nebius.com",
        "https://user@api.tokenfactory.nebius.com",
        "http://user:s3cret-pw@localhost:8000",
    ],
)
def test_credentials_in_url_refused_without_echoing_them(raw: str) -> None:
    with pytest.raises(ConfigurationError, match="credentials") as caught:
        normalize_base_url(raw)

    assert "s3cret-pw" not in str(caught.value)


@pytest.mark.parametrize(
    "raw",
    ["https://api.tokenfactory.nebius.com/v1?x=1", "https://api.tokenfactory.nebius.com#frag"],
)
def test_query_or_fragment_refused(raw: str) -> None:
    with pytest.raises(ConfigurationError, match="query or a fragment"):
        normalize_base_url(raw)


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("localhost", True),
        ("LocalHost", True),
        ("127.0.0.1", True),
        ("127.255.255.254", True),
        ("::1", True),
        ("[::1]", True),
        ("10.0.0.1", False),
        ("128.0.0.1", False),
        ("example.com", False),
        ("localhost.example.com", False),
        ("", False),
    ],
)
def test_is_loopback_host(host: str, expected: bool) -> None:
    assert is_loopback_host(host) is expected


# --- path_segment -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("ftjob-abc123", "ftjob-abc123"),
        ("a_b.c~d", "a_b.c~d"),
        ("a/b", "a%2Fb"),
        ("../admin", "..%2Fadmin"),
        ("a?b=1", "a%3Fb%3D1"),
        ("a#frag", "a%23frag"),
        ("100%", "100%25"),
        ("%2F", "%252F"),
        ("a b", "a%20b"),
        ("a+b&c", "a%2Bb%26c"),
        ("é", "%C3%A9"),
        ("日本", "%E6%97%A5%E6%9C%AC"),
    ],
)
def test_path_segment_escapes_reserved_characters(value: str, expected: str) -> None:
    assert path_segment(value) == expected


@pytest.mark.parametrize("value", ["a/b", "x?y", "x#y", "x y", "x%y", "ü"])
def test_path_segment_output_has_no_raw_reserved_characters(value: str) -> None:
    segment = path_segment(value)

    assert not {"/", "?", "#", " "} & set(segment)
    assert segment.isascii()


@pytest.mark.parametrize(("value", "expected"), [(".", "%2E"), ("..", "%2E%2E")])
def test_path_segment_encodes_dot_segments(value: str, expected: str) -> None:
    assert path_segment(value) == expected


def test_path_segment_leaves_other_dots_alone() -> None:
    assert path_segment("...") == "..."
    assert path_segment("v1.2") == "v1.2"


def test_path_segment_empty_string_raises_with_name() -> None:
    with pytest.raises(ValueError, match="job_id"):
        path_segment("", "job_id")


@pytest.mark.parametrize("value", [None, 123, b"ftjob-1"])
def test_path_segment_non_string_raises(value: Any) -> None:
    with pytest.raises(
        ValueError, match=f"id must be a non-empty string, got {re.escape(repr(value))}"
    ):
        path_segment(value)


# --- page_query -------------------------------------------------------------------------


def test_page_query_none() -> None:
    assert page_query(None, None) == ""


def test_page_query_limit_only() -> None:
    assert page_query(10, None) == "?limit=10"


def test_page_query_limit_one() -> None:
    assert page_query(1, None) == "?limit=1"


def test_page_query_after_only() -> None:
    assert page_query(None, "ftevent-00042") == "?after=ftevent-00042"


def test_page_query_after_is_escaped() -> None:
    assert page_query(None, "a/b&limit=1#x y") == "?after=a%2Fb%26limit%3D1%23x%20y"


def test_page_query_both() -> None:
    assert page_query(5, "ftckpt-7") == "?limit=5&after=ftckpt-7"


@pytest.mark.parametrize("limit", [0, -1, True, False, "5", 2.0])
def test_page_query_bad_limit_raises(limit: Any) -> None:
    with pytest.raises(ValueError, match="limit"):
        page_query(limit, None)


@pytest.mark.parametrize(
    "url",
    ["ftp://user:s3cret@host", "https://user:s3cret@", "https://user:s3cret@api.example.com"],
)
def test_credentials_are_refused_without_being_echoed(url: str) -> None:
    with pytest.raises(ConfigurationError, match="must not contain credentials") as caught:
        normalize_base_url(url)
    assert "s3cret" not in str(caught.value)


@pytest.mark.parametrize("url", ["http://[::1", "https://host:abc", "https://host:99999"])
def test_malformed_urls_are_configuration_errors(url: str) -> None:
    with pytest.raises(ConfigurationError, match="not a valid URL"):
        normalize_base_url(url)


def test_space_in_host_is_refused() -> None:
    with pytest.raises(ConfigurationError, match=r"must be an http\(s\) URL .*'https://ho st'"):
        normalize_base_url("https://ho st")

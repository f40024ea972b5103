"""Pure URL handling: the base URL, path segments and query strings."""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import quote, urlsplit

from ._errors import ConfigurationError

DEFAULT_BASE_URL = "https://api.tokenfactory.nebius.com"


def is_loopback_host(host: str) -> bool:
    """True for localhost, 127.0.0.0/8 and ::1."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def is_loopback_base_url(base_url: str) -> bool:
    """True when a (normalized) base URL points at this machine."""
    host = urlsplit(base_url).hostname
    return host is not None and is_loopback_host(host)


def normalize_base_url(base_url: str, *, allow_insecure_http: bool = False) -> str:
    """The origin requests go to, without a trailing slash or ``/v1``.

    ``https://host``, ``https://host/`` and ``https://host/v1`` all mean the same. A plain
    ``http://`` URL is refused unless its host is loopback or ``allow_insecure_http`` is set,
    because the API key would cross the network in clear text.
    """
    try:
        parts = urlsplit(base_url.strip())
        host = parts.hostname
        parts.port  # noqa: B018  (raises ValueError for a port that is not a number in range)
    except ValueError as exc:
        raise ConfigurationError(f"base_url is not a valid URL: {exc}") from None
    if parts.username is not None or parts.password is not None:
        raise ConfigurationError("base_url must not contain credentials; pass api_key instead")
    if parts.scheme not in ("http", "https") or not host or " " in parts.netloc:
        raise ConfigurationError(
            f"base_url must be an http(s) URL such as {DEFAULT_BASE_URL}, got {base_url!r}"
        )
    if parts.query or parts.fragment:
        raise ConfigurationError("base_url must not contain a query or a fragment")
    if parts.scheme == "http" and not allow_insecure_http and not is_loopback_host(host):
        raise ConfigurationError(
            f"refusing plain http:// base_url for non-loopback host {host!r}: "
            "the API key would be sent unencrypted; use https:// or pass allow_insecure_http=True"
        )
    path = parts.path.rstrip("/")
    if path.endswith("/v1"):
        path = path[: -len("/v1")]
    return f"{parts.scheme}://{parts.netloc}{path}"


_PLAIN_SEGMENT = re.compile(r"[A-Za-z0-9._~-]+").fullmatch
"""Characters ``quote(..., safe="")`` leaves as they are."""


def path_segment(value: str, name: str = "id") -> str:
    """Escape an id for use as one path segment, so it cannot reach another endpoint.

    Every reserved character is percent-encoded, and ``.`` / ``..`` are encoded too.
    """
    if not isinstance(value, str) or not value:
        raise ValueError(f"{name} must be a non-empty string, got {value!r}")
    if _PLAIN_SEGMENT(value) and value not in (".", ".."):
        return value  # nothing to escape: the common case, kept cheap
    segment = quote(value, safe="")
    if segment in (".", ".."):
        segment = segment.replace(".", "%2E")
    return segment


def page_query(limit: int | None, after: str | None, **more: str | None) -> str:
    """The ``?limit=..&after=..`` part of a list request (empty when nothing is set).

    ``more`` adds other string parameters; ``None`` values are left out.
    """
    params = []
    if limit is not None:
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise ValueError(f"limit must be a positive int, got {limit!r}")
        params.append(f"limit={limit}")
    for name, value in (("after", after), *more.items()):
        if value is not None:
            params.append(f"{name}={quote(value, safe='')}")
    return "?" + "&".join(params) if params else ""

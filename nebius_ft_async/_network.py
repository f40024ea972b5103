"""How the session reaches the API: proxies, TLS and headers, checked once. Pure.

The session talks to one origin only, so the proxy for it is looked up once, when the
session is made, instead of on every request.
"""

from __future__ import annotations

import ipaddress
import logging
import ssl as ssl_module
import urllib.request
from collections.abc import Mapping
from urllib.parse import quote, urlsplit

from ._errors import ConfigurationError
from ._urls import is_loopback_host

log = logging.getLogger("nebius_ft_async")

RESERVED_HEADERS = frozenset({"authorization", "host", "content-length"})
"""Headers the session sets itself: the key, where it goes, how long the body is."""


def environment_proxy(base_url: str) -> str | None:
    """The proxy the environment names for ``base_url``, as curl and requests read it:
    ``HTTPS_PROXY`` / ``HTTP_PROXY`` (or lower case, or ``ALL_PROXY``) unless ``NO_PROXY``
    covers the host. A loopback host is never sent through an environment proxy (as in Go's
    ``net/http``): a proxy elsewhere cannot reach this machine's 127.0.0.1."""
    parts = urlsplit(base_url)
    host = parts.hostname or ""
    if is_loopback_host(host):
        return None
    proxies = urllib.request.getproxies_environment()
    proxy = proxies.get(parts.scheme) or proxies.get("all")
    if not proxy or bypasses_proxy(host, parts.port, proxies.get("no", "")):
        return None
    return proxy if "://" in proxy else f"http://{proxy}"


def bypasses_proxy(host: str, port: int | None, no_proxy: str) -> bool:
    """Whether ``NO_PROXY`` covers ``host``, as curl reads it: ``*`` for every host; a
    domain covers itself and its subdomains (a leading dot changes nothing); an entry may
    name a port; an IP address or a network in CIDR notation covers the addresses in it."""
    host = host.lower().strip("[]").rstrip(".")
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        address = None
    for entry in (item.strip().lower() for item in no_proxy.split(",")):
        if not entry:
            continue
        if entry == "*":
            return True
        name, _, entry_port = entry.rpartition(":") if _has_port(entry) else (entry, "", "")
        if entry_port and str(port) != entry_port:
            continue
        name = name.strip("[]").lstrip(".").rstrip(".")
        if address is not None:
            try:
                if address in ipaddress.ip_network(name, strict=False):
                    return True
            except ValueError:
                pass
            continue
        if host == name or host.endswith("." + name):
            return True
    return False


def _has_port(entry: str) -> bool:
    """``host:port`` or ``[v6]:port``, not a bare IPv6 address."""
    if entry.startswith("["):
        return "]:" in entry
    return entry.count(":") == 1


def checked_proxy(proxy: str, name: str = "proxy") -> str:
    """``proxy`` if it is an http(s) URL (credentials allowed: they are the proxy's); else a
    ``ConfigurationError`` naming ``name``, where it came from."""
    try:
        parts = urlsplit(proxy)
        parts.port  # noqa: B018 (raises on a port that is not a number)
    except (ValueError, TypeError):
        raise ConfigurationError(f"{name} is not a valid URL") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigurationError(
            f"{name} must be an http:// or https:// URL such as http://proxy.example:3128"
        )
    return proxy


def checked_ssl(
    ssl: ssl_module.SSLContext | bool | None, base_url: str
) -> ssl_module.SSLContext | bool:
    """What aiohttp is given for TLS: a context, ``False`` (no certificate check, allowed
    for a loopback API only) or ``True`` (the system's trust store)."""
    if ssl is None or ssl is True:
        return True
    if isinstance(ssl, ssl_module.SSLContext):
        return ssl
    if ssl is False:
        host = urlsplit(base_url).hostname or ""
        if not is_loopback_host(host):
            raise ConfigurationError(
                f"ssl=False turns off certificate checks; it is refused for {host!r}, which is "
                "not this machine: pass an ssl.SSLContext that trusts your CA instead"
            )
        return False
    raise ConfigurationError(
        f"ssl must be an ssl.SSLContext, True or False, got {type(ssl).__name__}"
    )


def checked_headers(name: str, headers: Mapping[str, str] | None) -> dict[str, str]:
    """``headers`` as a dict of strings, refusing the ones the session sets itself."""
    if headers is None:
        return {}
    if not isinstance(headers, Mapping):
        raise ValueError(f"{name} must be a mapping of header names to values")
    result: dict[str, str] = {}
    for key, value in headers.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise ValueError(
                f"{name} must map strings to strings, got {key!r}: {type(value).__name__}"
            )
        if key.lower() in RESERVED_HEADERS:
            raise ValueError(
                f"{name} must not set {key}: the session sets it"
                + (" (the API key goes in api_key)" if key.lower() == "authorization" else "")
            )
        if not (key.isascii() and key.isprintable()) or any(c in key for c in " :\t"):
            raise ValueError(f"{name} has an invalid header name {key!r}")
        if any(c in value for c in "\r\n\0"):
            raise ValueError(f"{name}[{key!r}] holds a line break or NUL")
        result[key] = value
    return result


def hook_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """The headers ``request_sent`` hooks added, each checked like ``extra_headers``; one
    that cannot be sent is left out with a warning (a hook never breaks a request)."""
    kept: dict[str, str] = {}
    for name, value in headers.items():
        try:
            kept.update(checked_headers("a request_sent hook's headers", {name: value}))
        except ValueError as error:
            log.warning("%s; left out", error)
    return kept


def with_query(path: str, extra: Mapping[str, str]) -> str:
    """``path`` with ``extra`` query parameters added (each name and value escaped)."""
    if not isinstance(extra, Mapping):
        raise ValueError("extra_query must be a mapping of parameter names to values")
    params = []
    for key, value in extra.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise ValueError(f"extra_query must map strings to strings, got {key!r}: {value!r}")
        params.append(f"{quote(key, safe='')}={quote(value, safe='')}")
    if not params:
        return path
    return path + ("&" if "?" in path else "?") + "&".join(params)

"""Keeping the API key out of errors: find it in whatever spelling a server echoes it. Pure.

A server may echo the request back: in a JSON error body (where ``/`` may be written ``\\/``
and any character ``\\u002d``), percent-encoded in a URL, as an HTML character reference, in
a reason phrase or a header. ``KeyRedactor`` matches the key with each of its characters in
any of those spellings, on raw bytes and on text (so also after JSON decoding), and scrubs
every server-provided string an error carries.
"""

from __future__ import annotations

import re
from typing import Any

from ._errors import APIError

REDACTED = "[redacted]"


def _spellings(char: str) -> str:
    """A regular expression for one character of the key, in every spelling it may take."""
    code = ord(char)

    def hex_digits(value: int, width: int) -> str:
        return "".join(
            f"[{d}{d.upper()}]" if d.isalpha() else d for d in format(value, f"0{width}x")
        )

    options = [
        re.escape(char),
        r"\\u" + hex_digits(code, 4),  # JSON
        "%" + hex_digits(code, 2),  # percent-encoding
        f"&#0*{code};",  # HTML, decimal
        "&#[xX]0*" + hex_digits(code, 2) + ";",  # HTML, hexadecimal
    ]
    if char == "/":
        options.append(r"\\/")  # JSON may escape the solidus
    return "(?:" + "|".join(options) + ")"


class KeyRedactor:
    """Blanks out one key wherever it appears, in any spelling a server might echo."""

    def __init__(self, key: str) -> None:
        pattern = "".join(_spellings(char) for char in key)
        self._text = re.compile(pattern)
        self._bytes = re.compile(pattern.encode())

    def text(self, value: str) -> str:
        """``value`` with the key replaced by ``[redacted]``."""
        return self._text.sub(REDACTED, value)

    def bytes(self, value: bytes) -> bytes:
        """Raw bytes (a body) with the key replaced by ``[redacted]``."""
        return self._bytes.sub(REDACTED.encode(), value)

    def value(self, value: Any) -> Any:
        """A decoded JSON value with the key taken out of every string in it (and its keys)."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {self.value(k): self.value(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.value(item) for item in value]
        return value

    def error(self, error: APIError) -> APIError:
        """Scrub every server-provided string ``error`` carries, in place; returns it."""
        error.message = self.text(error.message)
        error.args = tuple(self.value(arg) for arg in error.args)
        for name in ("detail", "request_id", "body_excerpt", "content_type"):
            if hasattr(error, name):
                setattr(error, name, self.value(getattr(error, name)))
        return error


_STORAGE_ERROR_PART = re.compile(rb"<(Code|Message)>([^<]{0,500})</\1>")


def storage_error_detail(body: bytes) -> bytes:
    """What of an object store's error body may be shown: its ``Code`` and ``Message``.

    An S3 error body can carry the signed link's parts (``SignatureProvided``, a
    ``CanonicalRequest`` with the credential and security token), enough to forge the link
    again; anything but the code and the message is left out.
    """
    parts = dict(_STORAGE_ERROR_PART.findall(body))
    return b": ".join(parts[name] for name in (b"Code", b"Message") if name in parts)

"""Decompressing response bodies ourselves, so a cut-off compressed body is never taken for a
whole one. Pure, no I/O.

aiohttp's own decompression accepts a gzip stream that ends early (a dropped connection, or a
chunked body that ends cleanly too soon): the body just comes out short. ``Inflater`` only
calls a body complete once the decompressor has reached the end of its stream, and expands
at most a bounded piece at a time, so a small body cannot blow up in memory before a size
cap is checked.
"""

from __future__ import annotations

import zlib

SUPPORTED_ENCODINGS = ("gzip", "deflate")
"""What the session asks for in ``Accept-Encoding``, and can decompress."""
_PIECE = 1024 * 1024
"""Most bytes one step of decompression may produce."""


class BodyError(Exception):
    """A compressed body is cut short, corrupt, or in an encoding that cannot be read."""


class Inflater:
    """Decompresses one body sent with ``Content-Encoding: encoding`` (gzip or deflate,
    zlib-wrapped or raw); ``cap`` (if given) bounds the decompressed size."""

    def __init__(self, encoding: str, cap: int | None = None) -> None:
        encoding = encoding.strip().lower()
        if encoding == "x-gzip":
            encoding = "gzip"
        if encoding not in SUPPORTED_ENCODINGS:
            raise BodyError(f"the body is in an encoding this client does not read: {encoding}")
        self.cap = cap
        self.size = 0
        self._raw_deflate = False
        self._started = False
        # gzip and zlib headers are told apart by zlib itself (32); raw deflate is tried after
        self._decompressor = zlib.decompressobj(zlib.MAX_WBITS | 32)

    def feed(self, data: bytes) -> bytes:
        """The decompressed bytes of the next piece of the body."""
        pieces = []
        while data:
            try:
                piece = self._decompressor.decompress(data, _PIECE)
            except zlib.error as error:
                if self._started or self._raw_deflate:
                    raise BodyError(f"the compressed body is corrupt: {error}") from None
                self._raw_deflate = True  # some servers send deflate without its zlib header
                self._decompressor = zlib.decompressobj(-zlib.MAX_WBITS)
                continue
            self._started = True
            self.size += len(piece)
            if self.cap is not None and self.size > self.cap:
                raise BodyTooLarge(self.cap)
            pieces.append(piece)
            data = self._decompressor.unconsumed_tail
            if not data and self._decompressor.eof and self._decompressor.unused_data:
                data = self._decompressor.unused_data  # another gzip member follows
                self._decompressor = zlib.decompressobj(zlib.MAX_WBITS | 32)
        return b"".join(pieces)

    def finish(self) -> bytes:
        """The last decompressed bytes; ``BodyError`` if the stream did not reach its end."""
        tail = self._decompressor.flush()
        if not self._decompressor.eof:
            raise BodyError("the compressed body ended before its end of stream: it was cut short")
        self.size += len(tail)
        if self.cap is not None and self.size > self.cap:
            raise BodyTooLarge(self.cap)
        return tail


class BodyTooLarge(BodyError):
    """The body decompresses to more than the cap."""

    def __init__(self, cap: int) -> None:
        super().__init__(f"body larger than the {cap} byte limit (max_response_bytes)")
        self.cap = cap

"""A part of a file read as a file of its own: the body of one dataset upload part."""

import io
import os
from typing import Self


class FileSlice(io.RawIOBase):
    """Bytes ``offset`` to ``offset + length`` of the file at ``path``, readable and seekable
    from 0 to ``length``, as if nothing else were in the file.

    It has no ``fileno``, so nothing that reads it can take the whole file's size for its
    own: a request sending it sets ``Content-Length`` to ``length``.
    """

    def __init__(self, path: str | os.PathLike[str], offset: int, length: int) -> None:
        super().__init__()
        self._file = open(path, "rb", buffering=0)  # noqa: SIM115 (closed by close())
        self._offset, self._length, self._position = offset, length, 0
        size = os.fstat(self._file.fileno()).st_size
        if offset + length > size:
            self._file.close()
            raise ValueError(
                f"{path} holds {size} bytes, fewer than the part's end ({offset + length}): "
                "it changed while it was being uploaded"
            )

    def __enter__(self) -> Self:
        return self

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, position: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self._length}[whence]
        self._position = min(max(0, base + position), self._length)
        return self._position

    def read(self, size: int | None = -1) -> bytes:
        """Up to ``size`` bytes (the rest of the part if ``None`` or negative), read straight
        from the file: one copy, not the two of ``RawIOBase.read``."""
        left = self._length - self._position
        wanted = left if size is None or size < 0 else min(size, left)
        if wanted <= 0:
            return b""
        self._file.seek(self._offset + self._position)
        chunk = self._file.read(wanted)
        if not chunk:
            raise OSError(f"{self._file.name} ended before the part did: it was cut meanwhile")
        self._position += len(chunk)
        return chunk

    def readinto(self, buffer: "memoryview | bytearray") -> int:  # type: ignore[override]
        chunk = self.read(len(buffer))
        memoryview(buffer)[: len(chunk)] = chunk
        return len(chunk)

    def close(self) -> None:
        self._file.close()
        super().close()

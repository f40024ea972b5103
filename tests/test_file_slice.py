"""FileSlice: a part of a file read as a file of its own (the body of a dataset part)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from nebius_ft_async._file_slice import FileSlice

DATA = bytes(range(256)) * 40  # 10,240 bytes, every offset distinct within 256


def test_reads_only_its_part_whatever_the_read_sizes(tmp_path: Path) -> None:
    path = tmp_path / "data.bin"
    path.write_bytes(DATA)
    with FileSlice(path, 1000, 3000) as part:
        assert part.readable() and part.seekable() and part.tell() == 0
        got = part.read(1024) + part.read(10_000)
        assert got == DATA[1000:4000] and part.read(1) == b"" and part.tell() == 3000
        part.seek(0)
        assert part.read() == DATA[1000:4000]
        part.seek(-10, io.SEEK_END)
        buffer = bytearray(64)
        assert part.readinto(buffer) == 10 and bytes(buffer[:10]) == DATA[3990:4000]
        part.seek(5)
        assert part.read(None) == DATA[1005:4000]
        assert part.seek(-1) == 0 and part.seek(99_999) == 3000  # clamped to the part


def test_a_part_past_the_end_is_refused_and_a_cut_file_raises(tmp_path: Path) -> None:
    path = tmp_path / "data.bin"
    path.write_bytes(DATA)
    with pytest.raises(ValueError, match="fewer than the part's end"):
        FileSlice(path, 10_000, 1000)
    with FileSlice(path, 0, len(DATA)) as part:
        assert part.read(100) == DATA[:100]
        path.write_bytes(DATA[:50])  # cut meanwhile
        with pytest.raises(OSError, match="ended before the part did"):
            part.read(100)

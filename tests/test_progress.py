"""Progress of uploads and downloads: told as the bytes move, ending at the whole size."""

from __future__ import annotations

import itertools
import logging
from pathlib import Path

import pytest

from nebius_ft_async import AsyncSession
from nebius_ft_async.testing import FakeTokenFactory

pytestmark = pytest.mark.anyio

SIZE = 3 * 1024 * 1024 + 17


async def test_upload_progress_rises_to_the_whole_file(
    fake: FakeTokenFactory, fake_session: AsyncSession, tmp_path: Path
) -> None:
    source = tmp_path / "train.jsonl"
    source.write_bytes(b"x" * SIZE)
    told: list[tuple[int, int | None]] = []
    uploaded = await fake_session.upload_file(source, on_progress=lambda *at: told.append(at))
    assert fake.file_contents[uploaded.id] == source.read_bytes()
    assert told[-1] == (SIZE, SIZE)
    assert all(total == SIZE for _, total in told)
    assert all(a <= b for (a, _), (b, _) in itertools.pairwise(told))


async def test_download_progress_counts_each_chunk(
    fake: FakeTokenFactory, fake_session: AsyncSession, tmp_path: Path
) -> None:
    fake.files["file-big"] = {"id": "file-big", "filename": "big.bin", "bytes": SIZE}
    fake.file_contents["file-big"] = bytes(range(256)) * (SIZE // 256) + b"z" * (SIZE % 256)
    told: list[tuple[int, int | None]] = []
    target = await fake_session.download_file(
        "file-big", tmp_path / "big.bin", on_progress=lambda *at: told.append(at)
    )
    assert target.read_bytes() == fake.file_contents["file-big"]
    assert len(told) >= 2  # one per chunk of 1 MiB at most
    assert told[-1] == (SIZE, SIZE)
    assert all(a < b for (a, _), (b, _) in itertools.pairwise(told))


async def test_a_progress_callback_that_raises_is_logged_and_the_transfer_goes_on(
    fake: FakeTokenFactory,
    fake_session: AsyncSession,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    fake.files["file-1"] = {"id": "file-1", "filename": "a.bin", "bytes": 10}
    fake.file_contents["file-1"] = b"0123456789"

    def broken(done: int, total: int | None) -> None:
        raise RuntimeError("progress bar gone")

    with caplog.at_level(logging.WARNING, logger="nebius_ft_async"):
        target = await fake_session.download_file("file-1", tmp_path / "a.bin", on_progress=broken)
    assert target.read_bytes() == b"0123456789"
    assert "progress bar gone" in caplog.text

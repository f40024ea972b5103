"""Links, deletes, exports and storage faults, against the shipped fake and its storage."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from nebius_ft_async import FileDeleted, FileLink, NotFoundError, PermissionDeniedError
from nebius_ft_async.testing import FakeTokenFactory

pytestmark = pytest.mark.anyio

COLUMNS = [{"name": "text", "type": {"name": "string"}}, {"name": "n", "type": {"name": "json"}}]


@pytest.fixture
async def fake() -> Any:
    async with FakeTokenFactory() as fake:
        yield fake


async def test_a_link_fetches_the_file_without_the_key_and_hides_in_its_repr(
    fake: FakeTokenFactory,
) -> None:
    async with fake.session() as session:
        uploaded = await session.upload_file(b'{"messages": []}\n', filename="a.jsonl")
        link = await session.file_link(uploaded.id)
    assert isinstance(link, FileLink)
    assert link.url.startswith(fake.storage_url + "/files/")
    assert "X-Amz-Signature" in link.url and "X-Amz-Signature" not in repr(link)
    assert repr(link) == f"FileLink(url='{fake.storage_url}/…')"
    async with aiohttp.ClientSession() as client, client.get(link.url) as response:
        assert (response.status, await response.read()) == (200, b'{"messages": []}\n')


async def test_a_deleted_file_is_gone(fake: FakeTokenFactory) -> None:
    async with fake.session() as session:
        uploaded = await session.upload_file(b"{}\n", filename="a.jsonl")
        deleted = await session.delete_file(uploaded.id)
        assert deleted == FileDeleted(id=uploaded.id, object="file", deleted=True)
        with pytest.raises(NotFoundError, match=f"File {uploaded.id} not found"):
            await session.get_file(uploaded.id)
        with pytest.raises(
            NotFoundError, match=f"File {uploaded.id} not found"
        ):  # not retried: a second delete finds nothing
            await session.delete_file(uploaded.id)
    assert fake.requests[f"/v1/files/{uploaded.id}"] == 3


async def test_an_expired_link_is_a_clear_error_and_leaves_no_file(
    fake: FakeTokenFactory, tmp_path: Path
) -> None:
    fake.link_lifetime = 0  # expired as it is made
    async with fake.session() as session:
        uploaded = await session.upload_file(b"{}\n", filename="a.jsonl")
        with pytest.raises(PermissionDeniedError) as refused:
            await session.download_file(uploaded.id, tmp_path / "a.jsonl")
    assert "AccessDenied: Request has expired" in str(refused.value)
    assert "X-Amz" not in str(refused.value)
    assert list(tmp_path.iterdir()) == []  # nothing under the name, no temporary file


async def test_a_download_cut_by_the_storage_starts_again_from_a_fresh_link(
    fake: FakeTokenFactory, tmp_path: Path
) -> None:
    content = b"".join(b'{"n": %d}\n' % n for n in range(10_000))
    async with fake.session(retry_policy=None) as session:
        uploaded = await session.upload_file(content, filename="a.jsonl")
        fake.fail_storage_next("cut")
        fake.fail_storage_next(503)
        target = await session.download_file(uploaded.id, tmp_path / "a.jsonl")
    assert target.read_bytes() == content
    assert fake.requests[f"/v1/files/{uploaded.id}/content"] == 3  # a new link each time
    assert fake.storage_requests == 3


async def test_the_content_can_be_answered_directly(fake: FakeTokenFactory) -> None:
    fake.redirect_content = False
    async with fake.session() as session:
        uploaded = await session.upload_file(b"{}\n", filename="a.jsonl")
        assert await session.file_content(uploaded.id) == b"{}\n"
    assert fake.storage_requests == 0


async def test_a_dataset_exports_as_json_lines_and_as_csv(
    fake: FakeTokenFactory, tmp_path: Path
) -> None:
    rows = [{"text": "a, b", "n": 1}, {"text": 'say "hi"', "n": {"x": [1]}}, {"text": "c"}]
    async with fake.session() as session:
        dataset = await session.create_dataset(name="d", schema=COLUMNS, folder="/f", rows=rows)
        lines = await session.export_dataset(dataset.id, tmp_path / "d.jsonl")
        table = await session.export_dataset(dataset.id, tmp_path / "d.csv", format="csv")
        with pytest.raises(ValueError, match="format"):
            await session.export_dataset(dataset.id, tmp_path / "d.x", format="parquet")
        with pytest.raises(NotFoundError):
            await session.export_dataset("dataset-missing", tmp_path / "none.jsonl")
    assert [json.loads(line) for line in lines.read_text().splitlines()] == rows
    read = list(csv.reader(io.StringIO(table.read_text())))
    assert read == [["text", "n"], ["a, b", "1"], ['say "hi"', '{"x": [1]}'], ["c", ""]]
    assert sorted(path.name for path in tmp_path.iterdir()) == ["d.csv", "d.jsonl"]

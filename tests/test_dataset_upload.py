"""upload_dataset: a file in parts, several at once, resumable; against the shipped fake."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import anyio
import pytest

from nebius_ft_async import (
    APITimeoutError,
    BadRequestError,
    DatasetUploadError,
    DatasetUploadStatus,
)
from nebius_ft_async.testing import FakeTokenFactory

pytestmark = pytest.mark.anyio

COLUMNS = [{"name": "text", "type": {"name": "string"}}, {"name": "n", "type": {"name": "integer"}}]
PARTS = "/parts"


@pytest.fixture
async def fake() -> Any:
    async with FakeTokenFactory() as fake:
        yield fake


def rows_file(folder: Path, count: int = 200, name: str = "rows.jsonl") -> Path:
    path = folder / name
    path.write_bytes(
        b"".join(json.dumps({"text": f"row {n}", "n": n}).encode() + b"\n" for n in range(count))
    )
    return path


def part_posts(fake: FakeTokenFactory) -> int:
    return sum(count for path, count in fake.requests.items() if path.endswith(PARTS))


def only_upload(fake: FakeTokenFactory) -> dict[str, Any]:
    (upload,) = fake.dataset_uploads.values()
    return upload


async def upload_stopped_after(
    fake: FakeTokenFactory, session: Any, path: Path, k: int, part_size: int
) -> None:
    """Upload ``path`` one part at a time until the server took ``k`` parts, then have the
    next part refused (not retried), keeping the upload and its journal for a resume."""
    stopped: list[bool] = []

    def stop_after_k(_sent: int, _total: int | None) -> None:
        if fake.dataset_uploads and len(only_upload(fake)["parts"]) == k and not stopped:
            stopped.append(True)
            fake.fail_next(400, path=PARTS)

    with pytest.raises(BadRequestError, match="injected 400"):
        await session.upload_dataset(
            path,
            name="rows",
            schema=COLUMNS,
            folder="/u",
            part_size=part_size,
            concurrency=1,
            on_progress=stop_after_k,
            keep_on_error=True,
        )


async def test_a_file_goes_up_in_parts_and_comes_back_as_the_dataset(
    fake: FakeTokenFactory, tmp_path: Path
) -> None:
    path = rows_file(tmp_path)
    size = path.stat().st_size
    progress: list[tuple[int, int | None]] = []
    parts_done: list[tuple[int, int | None]] = []
    async with fake.session() as session:
        dataset = await session.upload_dataset(
            path,
            name="rows",
            schema=COLUMNS,
            folder="/u",
            part_size=1000,
            concurrency=3,
            poll_interval=0.01,
            on_progress=lambda sent, total: progress.append((sent, total)),
            on_part=lambda done, total: parts_done.append((done, total)),
        )
    parts = -(-size // 1000)
    assert parts_done == [(done, parts) for done in range(parts + 1)]
    assert part_posts(fake) == parts
    assert fake.dataset_sources[dataset.id] == path.read_bytes()  # byte-identical, in order
    assert fake.dataset_rows[dataset.id][199] == {"text": "row 199", "n": 199}
    assert (dataset.name, dataset.folder, dataset.schema) == ("rows", "/u", COLUMNS)
    assert only_upload(fake)["upload_info"]["status"] == "COMPLETED"
    assert progress[-1] == (size, size)
    assert [sent for sent, _ in progress] == sorted(sent for sent, _ in progress)
    assert not (tmp_path / "rows.jsonl.upload.json").exists()  # the journal is gone


async def test_an_upload_stopped_after_k_parts_resumes_with_the_rest(
    fake: FakeTokenFactory, tmp_path: Path
) -> None:
    path = rows_file(tmp_path)
    size = path.stat().st_size
    parts, k = -(-size // 1000), 3
    async with fake.session(max_retries=0) as session:
        await upload_stopped_after(fake, session, path, k, part_size=1000)
        journal = json.loads((tmp_path / "rows.jsonl.upload.json").read_bytes())
        assert len(journal["parts"]) == k
        assert only_upload(fake)["upload_info"]["status"] == "PENDING"  # kept, as asked
        sent_before = part_posts(fake)

        parts_done: list[int] = []
        dataset = await session.upload_dataset(
            path,
            name="rows",
            schema=COLUMNS,
            folder="/u",
            resume=True,
            poll_interval=0.01,
            on_part=lambda done, _total: parts_done.append(done),
        )
    assert parts_done == list(range(k, parts + 1))  # those sent before count from the start
    assert part_posts(fake) - sent_before == parts - k
    assert fake.dataset_sources[dataset.id] == path.read_bytes()
    assert len(fake.datasets) == 1 and len(fake.dataset_uploads) == 1
    assert not (tmp_path / "rows.jsonl.upload.json").exists()


async def test_a_cancelled_caller_cancels_the_upload_on_the_server(
    fake: FakeTokenFactory, tmp_path: Path
) -> None:
    path = rows_file(tmp_path)
    async with fake.session() as session:
        with anyio.CancelScope() as scope:

            def cancel_after_two(_sent: int, _total: int | None) -> None:
                if fake.dataset_uploads and len(only_upload(fake)["parts"]) >= 2:
                    scope.cancel()

            await session.upload_dataset(
                path,
                name="rows",
                schema=COLUMNS,
                folder="/u",
                part_size=1000,
                concurrency=1,
                on_progress=cancel_after_two,
            )
    assert scope.cancelled_caught
    assert only_upload(fake)["upload_info"]["status"] == "CANCELLED"
    assert not (tmp_path / "rows.jsonl.upload.json").exists()
    assert fake.datasets == {}


async def test_a_part_that_fails_once_is_sent_again_and_only_its_new_id_used(
    fake: FakeTokenFactory, tmp_path: Path
) -> None:
    path = rows_file(tmp_path, count=50)
    size = path.stat().st_size
    parts = -(-size // 500)
    fake.fail_next(503, path=PARTS)
    fake.fail_next("lose-answer", path=PARTS)  # stored by the server, the answer lost
    async with fake.session(retry_policy=None) as session:
        dataset = await session.upload_dataset(
            path, name="rows", schema=COLUMNS, folder="/u", part_size=500, poll_interval=0.01
        )
    upload = only_upload(fake)
    assert len(upload["parts"]) == parts + 1  # one orphan part, never assembled
    assert len(upload["part_ids"]) == parts
    assert fake.dataset_sources[dataset.id] == path.read_bytes()


async def test_a_journal_whose_file_changed_is_refused(
    fake: FakeTokenFactory, tmp_path: Path
) -> None:
    path = rows_file(tmp_path)
    async with fake.session(max_retries=0) as session:
        fake.fail_next(400, path=PARTS)
        with pytest.raises(BadRequestError, match="injected 400"):
            await session.upload_dataset(
                path,
                name="rows",
                schema=COLUMNS,
                folder="/u",
                part_size=1000,
                concurrency=1,
                keep_on_error=True,
            )
        with path.open("ab") as file:
            file.write(b'{"text": "one more", "n": 1}\n')
        before = dict(fake.requests)
        with pytest.raises(DatasetUploadError, match="changed since upload") as refused:
            await session.upload_dataset(
                path, name="rows", schema=COLUMNS, folder="/u", resume=True
            )
    assert refused.value.upload_id == only_upload(fake)["id"]
    assert fake.requests == before  # refused before any request


async def test_an_upload_the_server_fails_raises_with_its_reason(
    fake: FakeTokenFactory, tmp_path: Path
) -> None:
    path = tmp_path / "rows.txt"
    path.write_bytes(b"not json at all\n")
    async with fake.session() as session:
        with pytest.raises(DatasetUploadError, match="FAILED, not COMPLETED") as failed:
            await session.upload_dataset(
                path, name="rows", schema=COLUMNS, folder="/u", poll_interval=0.01
            )
    assert failed.value.status is DatasetUploadStatus.FAILED
    assert failed.value.error == "line 1 is not valid JSON"
    assert not (tmp_path / "rows.txt.upload.json").exists()


async def test_rows_that_do_not_fit_the_schema_send_nothing(
    fake: FakeTokenFactory, tmp_path: Path
) -> None:
    path = tmp_path / "rows.jsonl"
    path.write_bytes(b'{"text": "a", "n": 1}\n{"text": 2, "n": 1}\n{"n": 1, "extra": 0}\n[1]\n')
    async with fake.session() as session:
        with pytest.raises(DatasetUploadError) as refused:
            await session.upload_dataset(path, name="rows", schema=COLUMNS, folder="/u")
    message = str(refused.value)
    assert "line 2: text should be string, got int" in message
    assert "line 3: not in the schema: extra" in message
    assert "line 3: missing: text" in message
    assert "line 4: a row must be a JSON object, not list" in message
    assert "nothing was sent" in message
    assert fake.requests == {}


async def test_the_timeout_bounds_the_whole_upload_and_cancels_it(
    fake: FakeTokenFactory, tmp_path: Path
) -> None:
    path = rows_file(tmp_path, count=10)
    fake.upload_completing_polls = 10**9  # assembling never ends
    async with fake.session() as session:
        with pytest.raises(APITimeoutError, match=r"did not finish within 0\.5 s"):
            await session.upload_dataset(
                path, name="rows", schema=COLUMNS, folder="/u", timeout=0.5, poll_interval=0.01
            )
    assert only_upload(fake)["upload_info"]["status"] == "CANCELLED"


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({"part_size": 0}, "part_size"),
        ({"concurrency": 0}, "concurrency"),
        ({"concurrency": 65}, "concurrency"),
        ({"on_progress": 1}, "on_progress"),
        ({"on_part": "x"}, "on_part"),
        ({"poll_interval": 0}, "poll_interval"),
        ({"timeout": -1}, "timeout"),
        ({"name": ""}, "name"),
        ({"ai_project_id": ""}, "ai_project_id"),
    ],
)
async def test_bad_arguments_are_refused_before_any_request(
    fake: FakeTokenFactory, tmp_path: Path, options: dict[str, Any], named: str
) -> None:
    path = rows_file(tmp_path, count=1)
    arguments: dict[str, Any] = {"name": "rows", "schema": COLUMNS, "folder": "/u", **options}
    async with fake.session() as session:
        with pytest.raises(ValueError, match=named):
            await session.upload_dataset(path, **arguments)
        with pytest.raises(FileNotFoundError):
            await session.upload_dataset(tmp_path / "missing", name="n", schema=COLUMNS, folder="/")
        (tmp_path / "empty.jsonl").write_bytes(b"")
        with pytest.raises(ValueError, match="empty"):
            await session.upload_dataset(
                tmp_path / "empty.jsonl", name="n", schema=COLUMNS, folder="/"
            )
    assert fake.requests == {}


async def test_an_upload_completed_before_a_crash_is_only_waited_for_on_resume(
    fake: FakeTokenFactory, tmp_path: Path
) -> None:
    path = rows_file(tmp_path, count=20)
    fake.upload_completing_polls = 10**9
    async with fake.session() as session:
        with pytest.raises(APITimeoutError):
            await session.upload_dataset(
                path,
                name="rows",
                schema=COLUMNS,
                folder="/u",
                timeout=0.3,
                poll_interval=0.01,
                keep_on_error=True,
            )
        upload = only_upload(fake)
        assert upload["upload_info"]["status"] == "COMPLETING"
        upload["completing_polls"] = 0  # the server gets there meanwhile
        sent_before = part_posts(fake)
        dataset = await session.upload_dataset(
            path, name="rows", schema=COLUMNS, folder="/u", resume=True, poll_interval=0.01
        )
    assert part_posts(fake) == sent_before
    assert fake.dataset_sources[dataset.id] == path.read_bytes()


async def test_a_part_outside_the_file_is_refused_before_any_request(
    fake: FakeTokenFactory, tmp_path: Path
) -> None:
    path = rows_file(tmp_path, count=1)
    size = path.stat().st_size
    async with fake.session() as session:
        for offset, length, named in ((size, None, "offset"), (0, size + 1, "past the end")):
            with pytest.raises(ValueError, match=named):
                await session.upload_dataset_part("upload-1", path, offset=offset, length=length)
        with pytest.raises(ValueError, match="offset"):
            await session.upload_dataset_part("upload-1", path, offset=-1)
    assert fake.requests == {}


async def test_the_readme_sample_runs(fake: FakeTokenFactory, tmp_path: Path) -> None:
    readme = Path(__file__).resolve().parent.parent / "README.md"
    section = readme.read_text().split("## Datasets", 1)[1].split("\n## ", 1)[0]
    code = re.findall(r"```python\n(.*?)```", section, re.S)[1]
    namespace: dict[str, Any] = {}
    exec(compile(code, "README.md", "exec"), namespace)
    path = tmp_path / "rows.jsonl"
    path.write_bytes(b'{"text": "hello"}\n')
    async with fake.session() as session:
        dataset = await namespace["upload_rows"](session, path)
    assert fake.dataset_rows[dataset.id] == [{"text": "hello"}]


async def test_the_journal_can_be_kept_elsewhere_and_an_unwritable_place_is_refused(
    fake: FakeTokenFactory, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    path = rows_file(data)
    elsewhere = tmp_path / "state" / "rows.journal.json"
    arguments: dict[str, Any] = {"name": "rows", "schema": COLUMNS, "folder": "/u"}
    async with fake.session(max_retries=0) as session:
        with pytest.raises(ValueError, match=r"cannot keep the upload.s journal .*\(journal="):
            await session.upload_dataset(path, journal=elsewhere, **arguments)
        assert fake.requests == {}  # refused before anything was sent
        elsewhere.parent.mkdir()
        fake.fail_next(400, path=PARTS)
        with pytest.raises(BadRequestError, match="injected 400"):
            await session.upload_dataset(
                path, journal=elsewhere, keep_on_error=True, part_size=1000, **arguments
            )
        assert json.loads(elsewhere.read_bytes())["parts"] == {}
        assert not (data / "rows.jsonl.upload.json").exists()
        dataset = await session.upload_dataset(
            path, journal=elsewhere, resume=True, poll_interval=0.01, **arguments
        )
    assert fake.dataset_sources[dataset.id] == path.read_bytes()
    assert len(fake.dataset_uploads) == 1 and not elsewhere.exists()

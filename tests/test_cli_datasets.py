"""nebius-ft datasets upload|export|get, end to end against FakeTokenFactory."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from nebius_ft_async.testing import FakeTokenFactory

from .cli_run import Result, nebius_ft, on_terminal
from .test_dataset_upload import PARTS, part_posts, rows_file, upload_stopped_after

pytestmark = pytest.mark.anyio

COLUMNS = [{"name": "text", "type": {"name": "string"}}, {"name": "n", "type": {"name": "int"}}]
UPLOAD = ["--name", "rows", "--schema", "text:string,n:int", "--folder", "/u"]


@pytest.fixture
async def fake() -> AsyncIterator[FakeTokenFactory]:
    async with FakeTokenFactory(api_key="cli-datasets-key") as fake:
        fake.upload_completing_polls = 0  # assembled at once: no poll to wait for
        yield fake


async def run(fake: FakeTokenFactory, *args: str) -> Result:
    return await nebius_ft(*args, url=fake.url, key=fake.api_key)


async def test_upload_sends_the_file_in_parts_and_prints_the_dataset(
    fake: FakeTokenFactory, tmp_path: Path
) -> None:
    path = rows_file(tmp_path)
    size = path.stat().st_size
    shown = await run(fake, "datasets", "upload", str(path), *UPLOAD, "--part-size", "1k")
    assert shown.code == 0, shown.err
    (dataset_id,) = fake.datasets
    assert part_posts(fake) == -(-size // 1024)
    assert fake.dataset_sources[dataset_id] == path.read_bytes()
    assert fake.datasets[dataset_id]["schema"] == COLUMNS
    assert f"id  {dataset_id}" in shown.out and "columns  text:string, n:int" in shown.out
    assert not (tmp_path / "rows.jsonl.upload.json").exists()

    as_json = await run(
        fake, "datasets", "upload", str(path), *UPLOAD, "--concurrency", "2", "--json"
    )
    assert as_json.code == 0, as_json.err
    (sent,) = as_json.json_lines()
    assert isinstance(sent, dict) and sent == fake.datasets[sent["id"]]


@pytest.mark.parametrize("form", ["json", "file"])
async def test_the_schema_can_be_json_or_a_file(
    fake: FakeTokenFactory, tmp_path: Path, form: str
) -> None:
    path = rows_file(tmp_path, 3)
    text = json.dumps(COLUMNS)
    if form == "file":
        (tmp_path / "schema.json").write_text(text)
        text = "@" + str(tmp_path / "schema.json")
    args = ["--name", "rows", "--schema", text, "--folder", "/u"]
    shown = await run(fake, "datasets", "upload", str(path), *args)
    assert shown.code == 0, shown.err
    (dataset,) = fake.datasets.values()
    assert dataset["schema"] == COLUMNS


@pytest.mark.parametrize(
    ("option", "value", "said"),
    [
        ("--schema", "text", "name:type"),
        ("--schema", "[1]", "JSON object"),
        ("--schema", "[{", "not valid JSON"),
        ("--schema", "@/no/such/schema.json", "cannot read /no/such/schema.json"),
        ("--part-size", "0", "at least 1 byte"),
        ("--part-size", "64X", "at least 1 byte"),
        ("--concurrency", "0", "at least 1"),
        ("--concurrency", "65", "at most 64"),
    ],
)
async def test_bad_options_are_usage_errors_that_send_nothing(
    fake: FakeTokenFactory, tmp_path: Path, option: str, value: str, said: str
) -> None:
    path = rows_file(tmp_path, 3)
    shown = await run(fake, "datasets", "upload", str(path), *UPLOAD, option, value)
    assert shown.code == 2
    assert option in shown.err and said in shown.err
    assert fake.requests == {}


async def test_rows_that_do_not_fit_the_schema_are_not_sent_unless_no_check(
    fake: FakeTokenFactory, tmp_path: Path
) -> None:
    path = rows_file(tmp_path, 3)
    wrong = ["--name", "rows", "--schema", "text:string", "--folder", "/u"]  # no column n
    refused = await run(fake, "datasets", "upload", str(path), *wrong)
    assert refused.code == 1 and "line 1: not in the schema: n" in refused.err
    assert "--no-check" in refused.err
    assert fake.requests == {} and refused.out == ""

    forced = await run(fake, "datasets", "upload", str(path), *wrong, "--no-check")
    assert forced.code == 0, forced.err
    assert list(fake.dataset_sources.values()) == [path.read_bytes()]


async def test_a_missing_or_empty_file_is_a_usage_error(
    fake: FakeTokenFactory, tmp_path: Path
) -> None:
    missing = await run(fake, "datasets", "upload", str(tmp_path / "nope.jsonl"), *UPLOAD)
    assert missing.code == 2 and "cannot read" in missing.err
    (tmp_path / "empty.jsonl").write_bytes(b"")
    empty = await run(fake, "datasets", "upload", str(tmp_path / "empty.jsonl"), *UPLOAD)
    assert empty.code == 2 and "it is empty" in empty.err
    assert fake.requests == {}


async def test_a_failed_upload_is_cancelled_unless_kept_and_then_resumed(
    fake: FakeTokenFactory, tmp_path: Path
) -> None:
    path = rows_file(tmp_path)
    journal = tmp_path / "rows.jsonl.upload.json"
    fake.fail_next(400, path=PARTS)  # not retried: the upload stops at its first part
    cancelled = await run(
        fake, "datasets", "upload", str(path), *UPLOAD, "--part-size", "1k", "--concurrency", "1"
    )
    assert cancelled.code == 1 and "injected 400" in cancelled.err
    (first,) = fake.dataset_uploads.values()
    assert first["upload_info"]["status"] == "CANCELLED" and not journal.exists()

    fake.fail_next(400, path=PARTS)
    args = [*UPLOAD, "--part-size", "1k", "--concurrency", "1", "--keep-on-error"]
    kept = await run(fake, "datasets", "upload", str(path), *args)
    assert kept.code == 1
    upload_id = json.loads(journal.read_bytes())["upload_id"]
    assert fake.dataset_uploads[upload_id]["upload_info"]["status"] == "PENDING"

    resumed = await run(fake, "datasets", "upload", str(path), *UPLOAD, "--resume")
    assert resumed.code == 0, resumed.err
    assert fake.dataset_uploads[upload_id]["upload_info"]["status"] == "COMPLETED"
    assert list(fake.dataset_sources.values()) == [path.read_bytes()]
    assert not journal.exists()

    elsewhere = tmp_path / "state.json"
    fake.fail_next(400, path=PARTS)
    args = [*UPLOAD, "--part-size", "1k", "--keep-on-error", "--journal", str(elsewhere)]
    kept = await run(fake, "datasets", "upload", str(path), *args)
    assert kept.code == 1 and elsewhere.exists() and not journal.exists()
    args = [*UPLOAD, "--resume", "--journal", str(elsewhere)]
    resumed = await run(fake, "datasets", "upload", str(path), *args)
    assert resumed.code == 0, resumed.err
    assert not elsewhere.exists() and len(fake.dataset_sources) == 2


async def test_resume_sends_only_the_parts_missing(fake: FakeTokenFactory, tmp_path: Path) -> None:
    path = rows_file(tmp_path)
    parts, k = -(-path.stat().st_size // 1024), 2
    async with fake.session(max_retries=0) as session:
        await upload_stopped_after(fake, session, path, k, part_size=1024)
    sent_before = part_posts(fake)
    resumed = await run(fake, "datasets", "upload", str(path), *UPLOAD, "--resume", "--json")
    assert resumed.code == 0, resumed.err
    assert part_posts(fake) - sent_before == parts - k
    (dataset_id,) = fake.dataset_sources
    assert fake.dataset_sources[dataset_id] == path.read_bytes()


@pytest.mark.parametrize(("term", "bar_shown"), [("xterm-256color", True), ("dumb", False)])
async def test_a_bar_of_bytes_and_parts_shows_on_a_terminal_only(
    fake: FakeTokenFactory, tmp_path: Path, term: str, bar_shown: bool
) -> None:
    path = rows_file(tmp_path)
    parts = -(-path.stat().st_size // 1024)
    args = ["datasets", "upload", str(path), *UPLOAD, "--part-size", "1k"]
    code, shown = await on_terminal(fake.url, fake.api_key, args, None, term=term)
    assert code == 0, shown
    assert (f"parts {parts}/{parts}" in shown) is bar_shown
    assert ("assembling rows on the server" in shown) is bar_shown
    assert (f"/{path.stat().st_size / 1000:.1f} kB" in shown) is bar_shown
    (dataset_id,) = fake.datasets
    assert f"id  {dataset_id}" in shown


async def test_export_writes_the_rows_and_get_shows_the_dataset(
    fake: FakeTokenFactory, tmp_path: Path
) -> None:
    async with fake.session() as session:
        dataset = await session.create_dataset(
            name="greetings", schema=COLUMNS, folder="/e", rows=[{"text": "hi", "n": 1}]
        )
    into = tmp_path / "out"
    into.mkdir()
    exported = await run(fake, "datasets", "export", dataset.id, str(into), "--format", "csv")
    assert exported.code == 0, exported.err
    written = into / f"{dataset.id}.csv"
    assert written.read_text().splitlines() == ["text,n", "hi,1"]
    assert f"-> {written}" in exported.out

    as_json = await run(fake, "datasets", "export", dataset.id, str(tmp_path / "rows.jsonl"))
    assert as_json.code == 0, as_json.err
    assert [json.loads(line) for line in (tmp_path / "rows.jsonl").read_text().splitlines()] == [
        {"text": "hi", "n": 1}
    ]

    bad = await run(fake, "datasets", "export", dataset.id, str(into), "--format", "xml")
    assert bad.code == 2 and "--format" in bad.err

    shown = await run(fake, "datasets", "get", dataset.id)
    assert shown.code == 0, shown.err
    assert "name  greetings" in shown.out and "folder  /e" in shown.out
    sent = await run(fake, "datasets", "get", dataset.id, "--json")
    assert sent.json_lines() == [fake.datasets[dataset.id]]
    missing = await run(fake, "datasets", "get", "no-such-dataset")
    assert missing.code == 1 and "404" in missing.err

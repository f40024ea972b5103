"""nebius-ft files upload|list|get|download, end to end against FakeTokenFactory."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pytest
from aiohttp import web

from nebius_ft_async.testing import FakeTokenFactory

from .cli_run import Result, nebius_ft, on_terminal
from .conftest import ServeAnswer

pytestmark = pytest.mark.anyio

GOOD = (
    json.dumps(
        {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hey"}]}
    )
    + "\n"
)


@pytest.fixture
async def fake() -> AsyncIterator[FakeTokenFactory]:
    async with FakeTokenFactory(api_key="cli-files-key") as fake:
        yield fake


async def run(fake: FakeTokenFactory, *args: str, cwd: Path | None = None) -> Result:
    return await nebius_ft(*args, url=fake.url, key=fake.api_key, cwd=str(cwd) if cwd else None)


async def test_upload_sends_the_file_and_prints_what_the_server_sent(
    fake: FakeTokenFactory, tmp_path: Path
) -> None:
    data = tmp_path / "train.jsonl"
    data.write_text(GOOD * 3)
    shown = await run(fake, "files", "upload", str(data))
    assert shown.code == 0, shown.err
    (file_id,) = fake.files
    assert fake.file_contents[file_id] == data.read_bytes()
    assert f"id  {file_id}" in shown.out and "filename  train.jsonl" in shown.out
    assert "\x1b[" not in shown.out + shown.err  # no spinner when piped

    as_json = await run(fake, "files", "upload", str(data), "--purpose", "batch", "--json")
    assert as_json.code == 0, as_json.err
    (sent,) = as_json.json_lines()
    assert isinstance(sent, dict)
    assert sent == fake.files[sent["id"]] and sent["purpose"] == "batch"


async def test_a_file_with_errors_is_not_uploaded_unless_no_check(
    fake: FakeTokenFactory, tmp_path: Path
) -> None:
    data = tmp_path / "bad.jsonl"
    data.write_text(GOOD + "{not json\n")
    refused = await run(fake, "files", "upload", str(data), "--json")
    assert refused.code == 1
    assert refused.out == ""  # the report goes to stderr: stdout stays JSON or nothing
    assert "line 2: error" in refused.err and "--no-check" in refused.err
    assert fake.requests == {} and fake.files == {}

    forced = await run(fake, "files", "upload", str(data), "--no-check")
    assert forced.code == 0, forced.err
    assert list(fake.file_contents.values()) == [data.read_bytes()]


async def test_upload_of_a_missing_file_is_a_usage_error(
    fake: FakeTokenFactory, tmp_path: Path
) -> None:
    missing = await run(fake, "files", "upload", str(tmp_path / "nope.jsonl"))
    assert missing.code == 2 and "cannot read" in missing.err
    folder = await run(fake, "files", "upload", str(tmp_path), "--no-check")
    assert folder.code == 2 and "not a file" in folder.err
    assert fake.requests == {}


async def test_list_and_get(fake: FakeTokenFactory, tmp_path: Path) -> None:
    data = tmp_path / "train.jsonl"
    data.write_text(GOOD)
    for purpose in ("fine-tune", "fine-tune", "batch"):
        assert (await run(fake, "files", "upload", str(data), "--purpose", purpose)).code == 0
    ids = list(fake.files)

    listed = await run(fake, "files", "list", "--json")
    assert listed.code == 0, listed.err
    assert listed.json_lines() == [fake.files[file_id] for file_id in ids]
    assert (await run(fake, "files", "list", "--json", "--limit", "1")).json_lines() == [
        fake.files[ids[0]]
    ]
    batch = await run(fake, "files", "list", "--purpose", "batch")
    assert batch.out.splitlines()[0].split() == [
        "id",
        "size",
        "created",
        "(UTC)",
        "purpose",
        "filename",
    ]
    assert [line.split()[0] for line in batch.out.splitlines()[1:]] == [ids[2]]

    got = await run(fake, "files", "get", ids[1], "--json")
    assert got.json_lines() == [fake.files[ids[1]]]
    plain = await run(fake, "files", "get", ids[1])
    assert "size  " + str(len(GOOD)) + " B" in plain.out

    unknown = await run(fake, "files", "get", "file-unknown")
    assert unknown.code == 1 and "not found" in unknown.err
    bad_limit = await run(fake, "files", "list", "--limit", "0")
    assert bad_limit.code == 2 and "--limit" in bad_limit.err


async def test_download_is_atomic_and_names_a_file_in_a_folder(
    fake: FakeTokenFactory, tmp_path: Path
) -> None:
    job_id = fake.add_job(running_steps=2)
    async with fake.session() as session:
        await session.wait_for_job(job_id, poll_interval=0.01)
    file_id = next(iter(fake.files))
    content, name = fake.file_contents[file_id], fake.files[file_id]["filename"]

    target = tmp_path / "weights.bin"
    done = await run(fake, "files", "download", file_id, str(target))
    assert done.code == 0, done.err
    assert target.read_bytes() == content and str(target) in done.out

    folder = tmp_path / "out"
    folder.mkdir()
    as_json = await run(fake, "files", "download", file_id, str(folder), "--json")
    assert as_json.code == 0, as_json.err
    assert as_json.json_lines() == [{"file": fake.files[file_id], "path": str(folder / name)}]
    assert (folder / name).read_bytes() == content

    missing = await run(fake, "files", "download", "file-unknown", str(tmp_path / "x"))
    assert missing.code == 1
    unwritable = await run(fake, "files", "download", file_id, str(tmp_path / "no" / "x"))
    assert unwritable.code == 2 and "cannot write" in unwritable.err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "weights.bin"]
    assert sorted(p.name for p in folder.iterdir()) == [name]


async def test_json_is_every_field_the_server_sent(serve_answer: ServeAnswer) -> None:
    """A server sending fields no model declares: --json prints them as sent."""
    file_body = {
        "id": "file-x",
        "object": "file",
        "bytes": 12,
        "created_at": 1700000000,
        "filename": "a.jsonl",
        "purpose": "fine-tune",
        "line_count": 3,
        "labels": {"team": "search", "nested": [1, 2.5, None]},
    }
    job_body = {
        "id": "ftjob-x",
        "object": "fine_tuning.job",
        "created_at": 1700000000,
        "model": "m",
        "status": "running",
        "training_file": "file-x",
        "priority": "high",
        "hyperparameters": {"n_epochs": 2, "schedule": "cosine"},
    }

    answers = {
        "/v1/files/file-x": file_body,
        "/v1/files": {"object": "list", "data": [file_body], "region": "eu"},
        "/v1/fine_tuning/jobs/ftjob-x": job_body,
        "/v1/fine_tuning/jobs": {"object": "list", "data": [job_body], "has_more": False},
    }

    async def answer(request: web.Request) -> web.Response:
        return web.json_response(answers[request.path])

    url, key = await serve_answer(answer), "any-key"
    got = await nebius_ft("files", "get", "file-x", "--json", url=url, key=key)
    assert got.json_lines() == [file_body], got.err
    listed = await nebius_ft("files", "list", "--json", url=url, key=key)
    assert listed.json_lines() == [file_body], listed.err
    job = await nebius_ft("jobs", "get", "ftjob-x", "--json", url=url, key=key)
    assert job.json_lines() == [job_body], job.err
    jobs = await nebius_ft("jobs", "list", "--json", url=url, key=key)
    assert jobs.json_lines() == [job_body], jobs.err


async def test_timeout_gives_exit_code_124(serve_answer: ServeAnswer) -> None:
    release = asyncio.Event()

    async def never(request: web.Request) -> web.Response:
        await release.wait()
        return web.json_response({})

    url = await serve_answer(never)
    try:
        late = await nebius_ft("files", "list", "--timeout", "0.5", url=url, key="k")
    finally:
        release.set()
    assert late.code == 124 and "--timeout 0.5" in late.err


@pytest.mark.parametrize(("term", "bar_shown"), [("xterm-256color", True), ("dumb", False)])
async def test_a_progress_bar_shows_during_transfers_on_a_terminal_only(
    fake: FakeTokenFactory, tmp_path: Path, term: str, bar_shown: bool
) -> None:
    data = tmp_path / "train.jsonl"
    data.write_text(GOOD * 1000)
    args = ["files", "upload", str(data)]
    code, shown = await on_terminal(fake.url, fake.api_key, args, None, term=term)
    assert code == 0, shown
    assert ("uploading train.jsonl" in shown) is bar_shown
    assert (f"/{data.stat().st_size / 1000:.1f} kB" in shown) is bar_shown
    assert ("\x1b[" in shown) is bar_shown
    (file_id,) = fake.files
    assert f"id  {file_id}" in shown

    copy = tmp_path / "copy.jsonl"
    args = ["files", "download", file_id, str(copy)]
    code, shown = await on_terminal(fake.url, fake.api_key, args, None, term=term)
    assert code == 0, shown
    assert copy.read_bytes() == data.read_bytes()
    assert ("downloading copy.jsonl" in shown) is bar_shown
    assert (f"/{data.stat().st_size / 1000:.1f} kB" in shown) is bar_shown


async def test_interrupted_gives_exit_code_130(serve_answer: ServeAnswer) -> None:
    arrived, release = asyncio.Event(), asyncio.Event()

    async def never(request: web.Request) -> web.Response:
        arrived.set()
        await release.wait()
        return web.json_response({})

    env = {k: v for k, v in os.environ.items() if not k.startswith("NEBIUS_")}
    env |= {"NEBIUS_BASE_URL": await serve_answer(never), "NEBIUS_API_KEY": "k"}
    command = [sys.executable, "-m", "nebius_ft_async", "files", "list"]
    async with await anyio.open_process(command, env=env) as process:
        try:
            with anyio.fail_after(30):
                await arrived.wait()
                process.send_signal(signal.SIGINT)
                code = await process.wait()
        finally:
            release.set()
            if process.returncode is None:
                process.kill()
        assert process.stderr is not None
        err = (await process.stderr.receive()).decode()
    assert code == 130 and "interrupted" in err


async def test_link_prints_a_signed_url_and_delete_asks_first(fake: FakeTokenFactory) -> None:
    async with fake.session() as session:
        uploaded = await session.upload_file(GOOD.encode(), filename="a.jsonl")
    link = await run(fake, "files", "link", uploaded.id)
    assert link.code == 0, link.err
    assert link.out.startswith(fake.storage_url + "/files/") and "X-Amz-Signature=" in link.out

    refused = await run(fake, "files", "delete", uploaded.id)  # stdin is not a terminal
    assert refused.code == 2 and "not deleted without confirmation" in refused.err
    code, shown = await on_terminal(fake.url, fake.api_key, ["files", "delete", uploaded.id], b"n")
    assert code == 1 and "not deleted" in shown and uploaded.id in fake.files
    deleted = await run(fake, "files", "delete", uploaded.id, "--yes", "--json")
    assert deleted.code == 0, deleted.err
    assert deleted.json_lines() == [{"id": uploaded.id, "object": "file", "deleted": True}]
    assert uploaded.id not in fake.files
    missing = await run(fake, "files", "link", uploaded.id)
    assert missing.code == 1 and "404" in missing.err

"""Datasets and multipart dataset uploads, against the shipped fake and a small server."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from nebius_ft_async import (
    BadRequestError,
    Dataset,
    DatasetStatus,
    DatasetUploadStatus,
    NotFoundError,
    UnprocessableEntityError,
    WireRequest,
    WireResponse,
)
from nebius_ft_async.testing import FakeTokenFactory

from .mocks import mock_session

pytestmark = pytest.mark.anyio

COLUMNS = [{"name": "text", "type": {"name": "string"}}]
README = Path(__file__).resolve().parent.parent / "README.md"


@pytest.fixture
async def fake() -> Any:
    async with FakeTokenFactory() as fake:
        yield fake


async def test_a_dataset_from_rows_is_created_read_renamed_and_paged(
    fake: FakeTokenFactory,
) -> None:
    rows = [{"text": f"row {n}"} for n in range(5)]
    async with fake.session() as session:
        created = await session.create_dataset(
            name="greetings", schema=COLUMNS, folder="/examples", rows=rows
        )
        assert isinstance(created, Dataset)
        assert created.status is DatasetStatus.READY
        assert created.schema == COLUMNS
        assert fake.dataset_rows[created.id] == rows

        fetched = await session.get_dataset(created.id)
        assert (fetched.id, fetched.name, fetched.folder) == (created.id, "greetings", "/examples")

        renamed = await session.update_dataset(created.id, name="hellos")
        assert (renamed.name, renamed.folder) == ("hellos", "/examples")  # folder left alone
        moved = await session.update_dataset(created.id, folder="/moved")
        assert (moved.name, moved.folder) == ("hellos", "/moved")

        page = await session.dataset_content(created.id, limit=2, offset=3)
        assert page["data"] == rows[3:5]
        assert (await session.dataset_content(created.id))["data"] == rows


async def test_an_unknown_status_decodes_and_unknown_ids_are_404s(fake: FakeTokenFactory) -> None:
    async with fake.session() as session:
        created = await session.create_dataset(name="d", schema=COLUMNS, folder="/f", rows=[])
        fake.datasets[created.id]["status"] = "ARCHIVED"
        fetched = await session.get_dataset(created.id)
        assert fetched.status == "ARCHIVED" and fetched.status.name == "ARCHIVED"
        with pytest.raises(NotFoundError, match="Dataset dataset-missing not found"):
            await session.get_dataset("dataset-missing")
        # escaped: one id, so never GET .../content
        with pytest.raises(NotFoundError, match=f"Dataset {created.id}/content not found"):
            await session.get_dataset(f"{created.id}/content")
        with pytest.raises(NotFoundError, match="Upload upload-missing not found"):
            await session.list_dataset_upload_parts("upload-missing")


async def test_a_multipart_upload_is_created_listed_and_completed(fake: FakeTokenFactory) -> None:
    async with fake.session() as session:
        upload = await session.create_dataset_upload(
            name="big", schema=COLUMNS, folder="/uploads", ai_project_id="project-1"
        )
        assert upload.upload_info.status == "PENDING"
        assert upload.upload_info.ai_project_id == "project-1"
        assert upload.upload_info.dataset == {
            "name": "big",
            "schema": COLUMNS,
            "folder": "/uploads",
        }

        parts = [{"id": "part-1", "part_number": 1}, {"id": "part-2", "part_number": 2}]
        fake.dataset_uploads[upload.id]["parts"].extend(parts)
        listed = await session.list_dataset_upload_parts(upload.id)
        assert listed.data == parts

        done = await session.complete_dataset_upload(upload.id, part_ids=["part-1", "part-2"])
        assert done["upload_info"]["status"] == "COMPLETING"
        completing = await session.get_dataset_upload(upload.id)  # for one poll
        assert completing.upload_info.status is DatasetUploadStatus.COMPLETING
        assert not completing.upload_info.status.is_terminal
        completed = await session.get_dataset_upload(upload.id)
        assert completed.upload_info.status is DatasetUploadStatus.COMPLETED
        assert completed.upload_info.status.is_terminal
        assert completed.upload_info.dataset is not None
        dataset_id = completed.upload_info.dataset["id"]
        assert (await session.get_dataset(dataset_id)).name == "big"

        # completed already, and not retried
        with pytest.raises(BadRequestError, match=f"Upload {upload.id} is already COMPLETED"):
            await session.complete_dataset_upload(upload.id, part_ids=["part-1"])
    assert fake.requests[f"/v1/datasets/uploads/{upload.id}/complete"] == 2


async def test_completing_with_an_unknown_part_is_refused(fake: FakeTokenFactory) -> None:
    async with fake.session() as session:
        upload = await session.create_dataset_upload(name="big", schema=COLUMNS, folder="/u")
        with pytest.raises(BadRequestError, match="Unknown or missing parts"):
            await session.complete_dataset_upload(upload.id, part_ids=["part-9"])
    assert fake.dataset_uploads[upload.id]["upload_info"]["status"] == "PENDING"


async def test_the_servers_422_reaches_the_caller_with_each_problem(
    fake: FakeTokenFactory,
) -> None:
    async with fake.session() as session:
        created = await session.create_dataset(name="d", schema=COLUMNS, folder="/f", rows=[])
        with pytest.raises(UnprocessableEntityError) as refused:
            await session.dataset_content(created.id, extra_query={"limit": "many"})
    [problem] = refused.value.errors
    assert (problem.loc, problem.type) == (["query", "limit"], "int_parsing")


async def test_what_each_call_sends() -> None:
    seen: list[tuple[str, str, bytes]] = []

    def record(request: WireRequest) -> WireResponse:
        assert request.body is None or isinstance(request.body, bytes)
        seen.append((request.method, request.url.raw_path_qs, request.body or b""))
        return WireResponse.of(json={"id": "x", "data": []})

    async with mock_session(record) as session:
        await session.update_dataset("d 1", folder="/f")
        await session.dataset_content("d1", limit=1000, offset=7)
        await session.list_dataset_upload_parts("u1", ai_project_id="p 1")
        await session.complete_dataset_upload("u1")
        await session.create_dataset(
            name="n", schema=COLUMNS, folder="/f", rows=[{"a": 1}], ai_project_id="p"
        )
    assert seen == [
        ("PATCH", "/v1/datasets/d%201", b'{"folder":"/f"}'),
        ("GET", "/v1/datasets/d1/content?limit=1000&offset=7", b""),
        ("GET", "/v1/datasets/uploads/u1/parts?ai_project_id=p%201", b""),
        ("POST", "/v1/datasets/uploads/u1/complete", b"{}"),
        (
            "POST",
            "/v1/datasets",
            b'{"name":"n","schema":[{"name":"text","type":{"name":"string"}}],'
            b'"folder":"/f","rows":[{"a":1}],"ai_project_id":"p"}',
        ),
    ]


async def test_the_sessions_project_goes_where_each_call_takes_it(
    fake: FakeTokenFactory,
) -> None:
    async with fake.session(ai_project_id="team") as session:
        created = await session.create_dataset(name="d", schema=COLUMNS, folder="/f", rows=[])
        upload = await session.create_dataset_upload(name="u", schema=COLUMNS, folder="/f")
        other = await session.create_dataset_upload(
            name="u", schema=COLUMNS, folder="/f", ai_project_id="other"
        )
        with pytest.raises(ValueError, match="ai_project_id is not taken"):
            await session.get_dataset(created.id, ai_project_id="other")
    assert fake.datasets[created.id]["ai_project_id"] == "team"
    assert upload.upload_info.ai_project_id == "team"
    assert other.upload_info.ai_project_id == "other"


@pytest.mark.parametrize(
    ("call", "named"),
    [
        (lambda s: s.create_dataset(name="", schema=COLUMNS, folder="/f", rows=[]), "name"),
        (lambda s: s.create_dataset(name="n", schema="text", folder="/f", rows=[]), "schema"),
        (lambda s: s.create_dataset(name="n", schema=COLUMNS, folder="/f", rows=[1]), r"rows\[0\]"),
        (lambda s: s.create_dataset(name="n", schema=COLUMNS, folder=None, rows=[]), "folder"),
        (
            lambda s: s.create_dataset(
                name="n", schema=COLUMNS, folder="/", rows=[{"a": object()}]
            ),
            "rows must hold JSON values only",
        ),
        (lambda s: s.create_dataset(name="n", schema=[{1: "a"}], folder="/", rows=[]), "schema"),
        (lambda s: s.update_dataset("d"), "a name or a folder"),
        (lambda s: s.update_dataset("", name="n"), "dataset_id"),
        (lambda s: s.dataset_content("d", limit=0), "limit"),
        (lambda s: s.dataset_content("d", limit=1001), "limit"),
        (lambda s: s.dataset_content("d", offset=-1), "offset"),
        (lambda s: s.create_dataset_upload(name="n", schema=[], folder=""), "folder"),
        (lambda s: s.list_dataset_upload_parts("u", ai_project_id=""), "ai_project_id"),
        (lambda s: s.complete_dataset_upload("u", part_ids="p1"), "part_ids"),
    ],
)
async def test_bad_arguments_are_refused_before_any_request(
    fake: FakeTokenFactory, call: Any, named: str
) -> None:
    async with fake.session() as session:
        with pytest.raises(ValueError, match=named):
            await call(session)
    assert fake.requests == {}


async def test_the_readme_sample_runs(fake: FakeTokenFactory) -> None:
    section = README.read_text().split("## Datasets", 1)[1]
    code = re.findall(r"```python\n(.*?)```", section, re.S)[0]
    namespace: dict[str, Any] = {}
    exec(compile(code, "README.md", "exec"), namespace)
    async with fake.session() as session:
        page = await namespace["make_dataset"](session)
    assert page["data"] == [{"text": "hello"}]  # the fake's shape of a content page
    [dataset] = fake.datasets.values()
    assert dataset["name"] == "greetings-v2"

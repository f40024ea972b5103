"""The datasets part of the fake: ``/v1/datasets``, created from rows or uploaded in parts
(kept, assembled on completion into the rows of JSON Lines), read back a page at a time and
exported as JSON Lines or CSV."""

from __future__ import annotations

import csv
import io
import json
import time
from typing import Any

from aiohttp import web

from .. import _routes as routes
from ._answers import Routes, error_answer, json_answer, not_found
from ._requests import (
    COMPLETE_UPLOAD,
    CREATE_DATASET,
    CREATE_DATASET_FROM_ROWS,
    CREATE_DATASET_UPLOAD,
    PATCH_DATASET,
    checked_body,
    checked_query,
)
from ._state import FakeState
from ._validation import INVALID


def _exported(dataset: dict[str, Any], rows: list[dict[str, Any]], form: str) -> bytes:
    """A dataset's rows as ``GET .../export`` gives them: JSON Lines, or CSV with a header
    row of the schema's columns (JSON values other than strings written as JSON)."""
    if form == "jsonl":
        return b"".join(json.dumps(row).encode() + b"\n" for row in rows)
    names = [column.get("name", "") for column in dataset.get("schema", [])]
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(names)
    for row in rows:
        values = (row.get(name) for name in names)
        writer.writerow(
            "" if v is None else v if isinstance(v, str) else json.dumps(v) for v in values
        )
    return text.getvalue().encode()


def _json_lines_rows(content: bytes) -> tuple[list[dict[str, Any]], str | None]:
    """The rows of an assembled upload, or why it is not JSON Lines of objects."""
    rows = []
    for number, line in enumerate(content.splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError:
            return [], f"line {number} is not valid JSON"
        if not isinstance(row, dict):
            return [], f"line {number} is not a JSON object"
        rows.append(row)
    return rows, None


class DatasetsAPI(FakeState):
    """Datasets and their uploads, and the API's dataset endpoints."""

    def _dataset_routes(self) -> Routes:
        return [
            (routes.CREATE_DATASET, self._create_dataset),
            (routes.GET_DATASET, self._get_dataset),
            (routes.UPDATE_DATASET, self._update_dataset),
            (routes.DATASET_CONTENT, self._dataset_content),
            (routes.CREATE_DATASET_UPLOAD, self._create_dataset_upload),
            (routes.LIST_DATASET_UPLOAD_PARTS, self._list_dataset_upload_parts),
            (routes.COMPLETE_DATASET_UPLOAD, self._complete_dataset_upload),
            (routes.GET_DATASET_UPLOAD, self._get_dataset_upload),
            (routes.UPLOAD_DATASET_PART, self._upload_dataset_part),
            (routes.CANCEL_DATASET_UPLOAD, self._cancel_dataset_upload),
            (routes.EXPORT_DATASET, self._export_dataset),
        ]

    def _new_dataset(
        self, name: str, schema: list[Any], folder: str, rows: list[dict[str, Any]]
    ) -> dict[str, Any]:
        dataset_id = f"dataset-{next(self._ids):06d}"
        self.dataset_rows[dataset_id] = rows
        self.datasets[dataset_id] = {
            "id": dataset_id,
            "object": "dataset",
            "type": "dataset",
            "name": name,
            "status": "READY",
            "schema": schema,
            "metadata": {"rows": len(rows)},
            "folder": folder,
            "current_version": "1",
            "created_at": int(time.time()),
            "error": None,
            "ai_project_id": None,
        }
        return self.datasets[dataset_id]

    def _dataset(self, request: web.Request) -> dict[str, Any]:
        dataset = self.datasets.get(request.match_info["dataset_id"])
        if dataset is None:
            raise not_found(f"Dataset {request.match_info['dataset_id']} not found")
        return dataset

    async def _create_dataset(self, request: web.Request) -> web.Response:
        body = CREATE_DATASET_FROM_ROWS.check(
            await checked_body(request, CREATE_DATASET), ("body",), []
        )
        if body is INVALID:  # valid only as the S3 kind, which the fake does not play
            return error_answer(400, "Only datasets created from rows are supported")
        dataset = self._new_dataset(body["name"], body["schema"], body["folder"], body["rows"])
        dataset["ai_project_id"] = body["ai_project_id"]
        return json_answer(dataset)

    async def _get_dataset(self, request: web.Request) -> web.Response:
        return json_answer(self._dataset(request))

    async def _update_dataset(self, request: web.Request) -> web.Response:
        body = await checked_body(request, PATCH_DATASET)
        dataset = self._dataset(request)
        dataset.update({name: value for name, value in body.items() if value is not None})
        return json_answer(dataset)

    async def _dataset_content(self, request: web.Request) -> web.Response:
        query = checked_query(request, "dataset_content")
        rows = self.dataset_rows[self._dataset(request)["id"]]
        start = query["offset"]
        return json_answer({"object": "list", "data": rows[start : start + query["limit"]]})

    def _dataset_upload(self, request: web.Request) -> dict[str, Any]:
        upload = self.dataset_uploads.get(request.match_info["upload_id"])
        if upload is None:
            raise not_found(f"Upload {request.match_info['upload_id']} not found")
        return upload

    @staticmethod
    def _upload_body(upload: dict[str, Any]) -> dict[str, Any]:
        return {key: upload[key] for key in ("id", "upload_info")}

    async def _create_dataset_upload(self, request: web.Request) -> web.Response:
        body = await checked_body(request, CREATE_DATASET_UPLOAD, "dataset_upload")
        upload_id = f"upload-{next(self._ids):06d}"
        self.dataset_uploads[upload_id] = {
            "id": upload_id,
            "upload_info": {
                "status": "PENDING",
                "dataset": body,
                "created_at": int(time.time()),
                "error": None,
                "completed_at": None,
                "ai_project_id": request.query.get("ai_project_id"),
            },
            "parts": [],
        }
        return json_answer(self._upload_body(self.dataset_uploads[upload_id]))

    async def _list_dataset_upload_parts(self, request: web.Request) -> web.Response:
        checked_query(request, "dataset_upload")
        return json_answer({"object": "list", "data": self._dataset_upload(request)["parts"]})

    async def _upload_dataset_part(self, request: web.Request) -> web.Response:
        checked_query(request, "dataset_upload")
        upload = self._dataset_upload(request)
        content = await request.read()
        status = upload["upload_info"]["status"]
        if status != "PENDING":
            return error_answer(400, f"Upload {upload['id']} is {status}: it takes no more parts")
        if not content:
            return error_answer(400, "A part needs at least one byte")
        part = {
            "id": f"part-{next(self._ids):06d}",
            "upload_id": upload["id"],
            "status": "UPLOADED",
            "created_at": int(time.time()),
        }
        upload["parts"].append(part)
        self.part_contents[part["id"]] = content
        return json_answer(part)

    async def _get_dataset_upload(self, request: web.Request) -> web.Response:
        checked_query(request, "dataset_upload")
        upload = self._dataset_upload(request)
        info = upload["upload_info"]
        if info["status"] == "COMPLETING":
            upload["completing_polls"] -= 1
            if upload["completing_polls"] < 0:
                self._assemble(upload)
        return json_answer(self._upload_body(upload))

    async def _cancel_dataset_upload(self, request: web.Request) -> web.Response:
        checked_query(request, "dataset_upload")
        upload = self._dataset_upload(request)
        info = upload["upload_info"]
        if info["status"] not in ("PENDING", "COMPLETING"):
            return error_answer(400, f"Upload {upload['id']} is already {info['status']}")
        info.update(status="CANCELLED", completed_at=int(time.time()))
        return json_answer(self._upload_body(upload))

    async def _complete_dataset_upload(self, request: web.Request) -> web.Response:
        body = await checked_body(request, COMPLETE_UPLOAD, "dataset_upload")
        upload = self._dataset_upload(request)
        info = upload["upload_info"]
        if info["status"] != "PENDING":
            return error_answer(400, f"Upload {upload['id']} is already {info['status']}")
        parts = {part.get("id"): part for part in upload["parts"]}
        part_ids = list(parts) if body["part_ids"] is None else body["part_ids"]
        unknown = [part_id for part_id in part_ids if part_id not in parts]
        if unknown or not part_ids:
            return error_answer(400, f"Unknown or missing parts: {unknown}")
        upload["part_ids"] = part_ids
        upload["completing_polls"] = self.upload_completing_polls
        info["status"] = "COMPLETING"
        if self.upload_completing_polls <= 0:
            self._assemble(upload)
        return json_answer(self._upload_body(upload))

    def _assemble(self, upload: dict[str, Any]) -> None:
        """The dataset of a completed upload: its parts' bytes in ``part_ids`` order, read as
        JSON Lines (the upload ``FAILED`` if they are not)."""
        info = upload["upload_info"]
        content = b"".join(self.part_contents.get(part_id, b"") for part_id in upload["part_ids"])
        rows, problem = _json_lines_rows(content)
        if problem is not None:
            info.update(status="FAILED", completed_at=int(time.time()), error=problem)
            return
        planned = info["dataset"]
        dataset = self._new_dataset(planned["name"], planned["schema"], planned["folder"], rows)
        self.dataset_sources[dataset["id"]] = content
        info.update(status="COMPLETED", completed_at=int(time.time()), dataset=dataset)

    async def _export_dataset(self, request: web.Request) -> web.Response:
        query = checked_query(request, "export_dataset")
        dataset = self._dataset(request)
        if query["format"] not in ("jsonl", "csv"):
            return error_answer(400, f"Unsupported export format {query['format']!r}")
        rows = self.dataset_rows[dataset["id"]]
        if query["limit"] is not None:
            rows = rows[: max(0, query["limit"])]
        body = _exported(dataset, rows, query["format"])
        return web.Response(body=body, content_type="text/plain", charset="utf-8")

"""Datasets and their multipart uploads (``/v1/datasets``): the calls one by one.

A multipart upload is created (``POST /v1/datasets/uploads``), takes its parts as raw bytes
(``POST .../parts``, ``application/octet-stream``; each answer names the part) and is
completed with the ids of the parts in file order (``POST .../complete``), after which the
server assembles the dataset (``GET .../{upload_id}`` shows it ``COMPLETING``, then
``COMPLETED``). ``_dataset_upload`` builds the whole of it on these calls: ``upload_dataset``.
"""

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Unpack

import anyio
import msgspec

from ._calls import CallPerformer
from ._checks import positive_count
from ._dataset_models import Dataset, DatasetUpload, DatasetUploadPart, DatasetUploadParts
from ._routes import (
    CANCEL_DATASET_UPLOAD,
    COMPLETE_DATASET_UPLOAD,
    CREATE_DATASET,
    CREATE_DATASET_UPLOAD,
    DATASET_CONTENT,
    DATASET_UPLOADS,
    DATASETS,
    EXPORT_DATASET,
    GET_DATASET,
    GET_DATASET_UPLOAD,
    LIST_DATASET_UPLOAD_PARTS,
    UPDATE_DATASET,
    UPLOAD_DATASET_PART,
    Call,
    CallOptions,
    FilePart,
    Progress,
)
from ._urls import path_segment

MAX_CONTENT_LIMIT = 1000
"""The most rows ``dataset_content`` asks for at once (the API's cap)."""
EXPORT_FORMATS = ("jsonl", "csv")
"""The formats ``export_dataset`` asks for."""


def dataset_path(dataset_id: str) -> str:
    return f"{DATASETS}/{path_segment(dataset_id, 'dataset_id')}"


def upload_path(upload_id: str) -> str:
    return f"{DATASET_UPLOADS}/{path_segment(upload_id, 'upload_id')}"


def required_text(value: object, name: str) -> str:
    """``value`` if it is a non-empty string, else a ``ValueError`` naming ``name``."""
    if not isinstance(value, str) or not value:
        raise ValueError(f"{name} must be a non-empty string, got {value!r}")
    return value


def _objects(value: object, name: str) -> msgspec.Raw:
    """A list of JSON objects (string keys, JSON values), encoded; else a ``ValueError``
    naming ``name``."""
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise ValueError(f"{name} must be a list of objects, got {type(value).__name__}")
    items = []
    for index, item in enumerate(value):
        if not isinstance(item, Mapping) or not all(isinstance(key, str) for key in item):
            kind = type(item).__name__
            raise ValueError(f"{name}[{index}] must be an object with string keys, got a {kind}")
        items.append(dict(item))
    try:
        return msgspec.Raw(msgspec.json.encode(items))
    except (TypeError, msgspec.EncodeError) as error:
        raise ValueError(f"{name} must hold JSON values only: {error}") from None


def dataset_fields(name: str, schema: Sequence[Mapping[str, Any]], folder: str) -> dict[str, Any]:
    """The checked ``name``, ``schema`` and ``folder`` of a dataset, as a body sends them."""
    return {
        "name": required_text(name, "name"),
        "schema": _objects(schema, "schema"),
        "folder": required_text(folder, "folder"),
    }


class DatasetEndpoints(CallPerformer):
    """Datasets: create, get, update, content, export; multipart uploads: create, send a
    part, list parts, complete, get, cancel.

    The multipart upload calls take ``ai_project_id=`` (default: the session's) as a query
    parameter, like the other calls that work within a project; ``create_dataset`` sends it
    in its body, where the API documents it.
    """

    async def create_dataset(
        self,
        *,
        name: str,
        schema: Sequence[Mapping[str, Any]],
        folder: str,
        rows: Sequence[Mapping[str, Any]],
        **options: Unpack[CallOptions],
    ) -> Dataset:
        """Create a dataset from rows sent in the request: ``POST /v1/datasets``.

        ::

            dataset = await session.create_dataset(
                name="greetings",
                schema=[{"name": "text", "type": {"name": "string"}}],
                folder="/examples",
                rows=[{"text": "hello"}, {"text": "bonjour"}],
            )

        The rows travel in one JSON body: for a large file, upload it with ``upload_file``.
        """
        body = dataset_fields(name, schema, folder)
        body["rows"] = _objects(rows, "rows")
        project = options.pop("ai_project_id", None)
        if project is None:
            project = self.ai_project_id
        if project is not None:
            body["ai_project_id"] = required_text(project, "ai_project_id")
        encoded = msgspec.json.encode(body)
        return await self._perform(Call(CREATE_DATASET, DATASETS, json=encoded, **options))

    async def get_dataset(self, dataset_id: str, **options: Unpack[CallOptions]) -> Dataset:
        """A dataset's details: ``GET /v1/datasets/{dataset_id}``."""
        return await self._perform(Call(GET_DATASET, dataset_path(dataset_id), **options))

    async def update_dataset(
        self,
        dataset_id: str,
        *,
        name: str | None = None,
        folder: str | None = None,
        **options: Unpack[CallOptions],
    ) -> Dataset:
        """Rename a dataset or move it to another folder: ``PATCH /v1/datasets/{dataset_id}``.

        Only what is given is sent; at least one of ``name`` and ``folder`` is needed.
        """
        body = {}
        if name is not None:
            body["name"] = required_text(name, "name")
        if folder is not None:
            body["folder"] = required_text(folder, "folder")
        if not body:
            raise ValueError("update_dataset needs a name or a folder to change")
        encoded = msgspec.json.encode(body)
        path = dataset_path(dataset_id)
        return await self._perform(Call(UPDATE_DATASET, path, json=encoded, **options))

    async def dataset_content(
        self,
        dataset_id: str,
        *,
        limit: int = 100,
        offset: int = 0,
        **options: Unpack[CallOptions],
    ) -> Any:
        """One page of a dataset's content: ``GET /v1/datasets/{dataset_id}/content``.

        ``limit`` rows (1 to 1000) from ``offset`` on. The API does not document the shape
        of its answer, so it is returned as the JSON the server sent.
        """
        if (
            isinstance(limit, bool)
            or not isinstance(limit, int)
            or not 1 <= limit <= MAX_CONTENT_LIMIT
        ):
            raise ValueError(f"limit must be an int from 1 to {MAX_CONTENT_LIMIT}, got {limit!r}")
        if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
            raise ValueError(f"offset must be an int of at least 0, got {offset!r}")
        path = f"{dataset_path(dataset_id)}/content?limit={limit}&offset={offset}"
        return await self._perform(Call(DATASET_CONTENT, path, **options))

    async def create_dataset_upload(
        self,
        *,
        name: str,
        schema: Sequence[Mapping[str, Any]],
        folder: str,
        **options: Unpack[CallOptions],
    ) -> DatasetUpload:
        """Start a multipart upload of a dataset: ``POST /v1/datasets/uploads``."""
        encoded = msgspec.json.encode(dataset_fields(name, schema, folder))
        call = Call(CREATE_DATASET_UPLOAD, DATASET_UPLOADS, json=encoded, **options)
        return await self._perform(call)

    async def list_dataset_upload_parts(
        self,
        upload_id: str,
        **options: Unpack[CallOptions],
    ) -> DatasetUploadParts:
        """The parts an upload holds: ``GET /v1/datasets/uploads/{upload_id}/parts``."""
        path = upload_path(upload_id) + "/parts"
        return await self._perform(Call(LIST_DATASET_UPLOAD_PARTS, path, **options))

    async def complete_dataset_upload(
        self,
        upload_id: str,
        *,
        part_ids: Sequence[str] | None = None,
        **options: Unpack[CallOptions],
    ) -> Any:
        """Assemble an upload's parts into a new dataset:
        ``POST /v1/datasets/uploads/{upload_id}/complete``.

        ``part_ids`` lists the parts in the order they make the file. The API does not
        document its answer, so it is returned as the JSON the server sent.
        """
        body: dict[str, Any] = {}
        if part_ids is not None:
            if isinstance(part_ids, str) or not isinstance(part_ids, Sequence):
                raise ValueError(f"part_ids must be a list of strings, got {part_ids!r}")
            body["part_ids"] = [required_text(part_id, "part_ids[]") for part_id in part_ids]
        path = upload_path(upload_id) + "/complete"
        encoded = msgspec.json.encode(body)
        return await self._perform(Call(COMPLETE_DATASET_UPLOAD, path, json=encoded, **options))

    async def get_dataset_upload(
        self, upload_id: str, **options: Unpack[CallOptions]
    ) -> DatasetUpload:
        """Where a multipart upload stands: ``GET /v1/datasets/uploads/{upload_id}``
        (``upload_info.status`` is ``PENDING``, ``COMPLETING``, ``COMPLETED``, ``FAILED`` or
        ``CANCELLED``; ``upload_info.error`` says why it failed)."""
        path = upload_path(upload_id)
        return await self._perform(Call(GET_DATASET_UPLOAD, path, **options))

    async def cancel_dataset_upload(
        self, upload_id: str, **options: Unpack[CallOptions]
    ) -> DatasetUpload:
        """Cancel a multipart upload: ``POST /v1/datasets/uploads/{upload_id}/cancel``."""
        path = upload_path(upload_id) + "/cancel"
        return await self._perform(Call(CANCEL_DATASET_UPLOAD, path, **options))

    async def upload_dataset_part(
        self,
        upload_id: str,
        file: str | os.PathLike[str],
        *,
        offset: int = 0,
        length: int | None = None,
        on_progress: Progress | None = None,
        **options: Unpack[CallOptions],
    ) -> DatasetUploadPart:
        """Send ``length`` bytes of ``file`` from ``offset`` (all of it by default) as one
        part: ``POST /v1/datasets/uploads/{upload_id}/parts``, streamed from disk.

        The answer's ``id`` goes in ``complete_dataset_upload``'s ``part_ids``. A part is
        retried after a 5xx or a dropped connection too: a part sent twice leaves an unused
        one on the server, which completing with the ids returned never assembles.
        """
        path = upload_path(upload_id) + "/parts"
        size = (await anyio.Path(file).stat()).st_size
        offset = positive_count("offset", offset, at_least=0)
        length = size - offset if length is None else positive_count("length", length)
        if length < 1:
            raise ValueError(f"offset ({offset}) leaves no bytes of {file} ({size}) to send")
        if offset + length > size:
            raise ValueError(f"offset + length ({offset + length}) is past the end of {file}")
        part = FilePart(file, offset, length)
        call = Call(UPLOAD_DATASET_PART, path, upload=part, on_progress=on_progress, **options)
        return await self._perform(call)

    async def export_dataset(
        self,
        dataset_id: str,
        destination: str | os.PathLike[str],
        *,
        format: str = "jsonl",
        on_progress: Progress | None = None,
        **options: Unpack[CallOptions],
    ) -> Path:
        """Stream a dataset's rows to ``destination``: ``GET /v1/datasets/{dataset_id}/export``.

        ``format`` is ``"jsonl"`` (one JSON object per row) or ``"csv"``. Written as
        ``download_file`` writes: atomically, bounded by silence rather than by total time.
        """
        if format not in EXPORT_FORMATS:
            raise ValueError(f"format must be one of {', '.join(EXPORT_FORMATS)}, got {format!r}")
        target = Path(destination)
        path = f"{dataset_path(dataset_id)}/export?format={format}"
        call = Call(EXPORT_DATASET, path, download_to=target, on_progress=on_progress, **options)
        await self._perform(call)
        return target

"""Datasets and their multipart uploads (``/v1/datasets``).

The API documents how a multipart upload is created (``POST /v1/datasets/uploads``), how its
parts are listed (``GET .../parts``) and how it is completed (``POST .../complete`` with the
``part_ids`` to assemble), but not how the bytes of a part are sent: no endpoint for it is
published, and the upload's description carries no URL to send them to. ``upload_dataset``
therefore refuses with a ``NebiusError`` that says so, before anything is created on the
server; the calls the API does document are all here.
"""

import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, NoReturn, Unpack

import anyio
import msgspec

from ._dataset_models import Dataset, DatasetUpload, DatasetUploadParts
from ._errors import NebiusError
from ._routes import (
    COMPLETE_DATASET_UPLOAD,
    CREATE_DATASET,
    CREATE_DATASET_UPLOAD,
    DATASET_CONTENT,
    DATASET_UPLOADS,
    DATASETS,
    GET_DATASET,
    LIST_DATASET_UPLOAD_PARTS,
    UPDATE_DATASET,
    Call,
    CallOptions,
)
from ._transport import Transport
from ._urls import path_segment

MAX_CONTENT_LIMIT = 1000
"""The most rows ``dataset_content`` asks for at once (the API's cap)."""
DEFAULT_PART_SIZE = 64 * 1024 * 1024
"""The part size ``upload_dataset`` takes by default: 64 MiB."""


def dataset_path(dataset_id: str) -> str:
    return f"{DATASETS}/{path_segment(dataset_id, 'dataset_id')}"


def upload_path(upload_id: str) -> str:
    return f"{DATASET_UPLOADS}/{path_segment(upload_id, 'upload_id')}"


def _text(value: object, name: str) -> str:
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


def _dataset_fields(name: str, schema: Sequence[Mapping[str, Any]], folder: str) -> dict[str, Any]:
    return {
        "name": _text(name, "name"),
        "schema": _objects(schema, "schema"),
        "folder": _text(folder, "folder"),
    }


class DatasetEndpoints(Transport):
    """Datasets: create, get, update, content; multipart uploads: create, parts, complete.

    The multipart upload calls take ``ai_project_id=`` (default: the session's) as a query
    parameter, like the other calls that work within a project; ``create_dataset`` sends it
    in its body, where the API documents it.
    """

    ai_project_id: str | None
    """The session's AI Studio project (set by the session)."""

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
        body = _dataset_fields(name, schema, folder)
        body["rows"] = _objects(rows, "rows")
        project = options.pop("ai_project_id", None)
        if project is None:
            project = self.ai_project_id
        if project is not None:
            body["ai_project_id"] = _text(project, "ai_project_id")
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
            body["name"] = _text(name, "name")
        if folder is not None:
            body["folder"] = _text(folder, "folder")
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
        encoded = msgspec.json.encode(_dataset_fields(name, schema, folder))
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
            body["part_ids"] = [_text(part_id, "part_ids[]") for part_id in part_ids]
        path = upload_path(upload_id) + "/complete"
        encoded = msgspec.json.encode(body)
        return await self._perform(Call(COMPLETE_DATASET_UPLOAD, path, json=encoded, **options))

    async def upload_dataset(
        self,
        path: str | os.PathLike[str],
        *,
        name: str,
        schema: Sequence[Mapping[str, Any]],
        folder: str,
        part_size: int = DEFAULT_PART_SIZE,
        on_progress: Callable[[int, int], Any] | None = None,
        ai_project_id: str | None = None,
    ) -> NoReturn:
        """Upload a dataset file in parts: not possible yet, and refused before any request.

        The API publishes no way to send the bytes of a part (see this module's docstring),
        so this checks its arguments and then raises ``NebiusError`` saying so; nothing is
        created on the server, so nothing is left to clean up. To get a large file to the
        API today, use ``upload_file`` (streamed from disk) or ``create_dataset`` with rows.
        """
        source = Path(path)
        if not await anyio.Path(source).is_file():
            raise FileNotFoundError(f"no dataset file to upload at {source}")
        _dataset_fields(name, schema, folder)
        if isinstance(part_size, bool) or not isinstance(part_size, int) or part_size < 1:
            raise ValueError(f"part_size must be a positive int, got {part_size!r}")
        if on_progress is not None and not callable(on_progress):
            raise ValueError(f"on_progress must be callable, got {on_progress!r}")
        if ai_project_id is not None:
            _text(ai_project_id, "ai_project_id")
        raise NebiusError(
            "upload_dataset cannot send a dataset in parts: the API documents how to create "
            "a multipart upload (POST /v1/datasets/uploads), list its parts and complete it, "
            "but not how the bytes of a part are sent (no part endpoint, no upload URL). "
            "Nothing was created on the server. Upload the file with upload_file, or send "
            "its rows with create_dataset."
        )

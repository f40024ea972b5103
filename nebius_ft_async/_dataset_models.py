"""Typed models for datasets (``/v1/datasets``) and their multipart uploads. No I/O.

The API's documents show these objects only in part (the published pages are truncated),
so every field but ``id`` has a default and unknown fields are ignored, as everywhere in
``_models``. What the documents do not describe at all is kept as the server sent it: a
column's schema, an upload part, the answer to completing an upload, a page of content.
"""

from typing import Any

import msgspec

from ._models import Model, _OpenStrEnum


class DatasetStatus(_OpenStrEnum):
    """Status of a dataset; values the server adds later decode too."""

    READY = "READY"
    PENDING = "PENDING"
    FAILED = "FAILED"
    TEMPORARY = "TEMPORARY"
    DRAFT = "DRAFT"


class Dataset(Model):
    """A dataset (``/v1/datasets``).

    ``schema`` holds the column definitions as the server sends them, such as
    ``{"name": "text", "type": {"name": "string"}}``.
    """

    id: str
    name: str = ""
    status: DatasetStatus | None = None
    schema: list[dict[str, Any]] = msgspec.field(default_factory=list)
    metadata: dict[str, Any] = msgspec.field(default_factory=dict)
    folder: str | None = None
    current_version: str | None = None
    created_at: int | None = None
    error: str | None = None
    type: str | None = None
    ai_project_id: str | None = None


class DatasetUploadStatus(_OpenStrEnum):
    """Status of a multipart dataset upload; values the server adds later decode too.

    ``PENDING`` takes parts; ``COMPLETING`` assembles them after ``complete``; then
    ``COMPLETED`` (the dataset exists), ``FAILED`` (``error`` says why) or ``CANCELLED``.
    """

    PENDING = "PENDING"
    COMPLETING = "COMPLETING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"

    @property
    def is_terminal(self) -> bool:
        """True for completed, failed and cancelled: the upload will not change again."""
        return self in _FINAL_UPLOAD_STATUSES


_FINAL_UPLOAD_STATUSES = frozenset(
    {DatasetUploadStatus.COMPLETED, DatasetUploadStatus.FAILED, DatasetUploadStatus.CANCELLED}
)


class DatasetUploadInfo(Model):
    """Where a multipart dataset upload stands."""

    status: DatasetUploadStatus | None = None
    dataset: dict[str, Any] | None = None
    """The dataset the upload will create (name, schema, folder, id)."""
    created_at: int | None = None
    completed_at: int | None = None
    error: str | None = None
    ai_project_id: str | None = None


class DatasetUpload(Model):
    """A multipart dataset upload, as ``POST /v1/datasets/uploads`` creates it."""

    id: str
    upload_info: DatasetUploadInfo = msgspec.field(default_factory=DatasetUploadInfo)


class DatasetUploadPart(Model):
    """One part of a multipart upload, as ``POST /v1/datasets/uploads/{upload_id}/parts``
    answers: its ``id`` is what ``complete_dataset_upload`` takes in ``part_ids``."""

    id: str
    upload_id: str | None = None
    status: str | None = None
    created_at: int | None = None


class DatasetUploadParts(Model):
    """The parts a multipart upload holds: ``GET /v1/datasets/uploads/{upload_id}/parts``.

    Each part is kept as the server sends it (the API documents its name only).
    """

    data: list[dict[str, Any]] = msgspec.field(default_factory=list)
    object: str = "list"


dataset_decoder = msgspec.json.Decoder(Dataset, strict=False)
dataset_upload_decoder = msgspec.json.Decoder(DatasetUpload, strict=False)
dataset_upload_part_decoder = msgspec.json.Decoder(DatasetUploadPart, strict=False)
dataset_upload_parts_decoder = msgspec.json.Decoder(DatasetUploadParts, strict=False)
any_json_decoder: msgspec.json.Decoder[Any] = msgspec.json.Decoder()
"""Answers the API does not describe (content pages, a completed upload): JSON as sent."""

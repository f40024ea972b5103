"""The API's routes in one table, and the description of one call. Pure, but for
``report_progress``, which calls a transfer's progress callback.

A ``Route`` is what an endpoint is: its method, its path template (ids shown as
``{job_id}``, which is what logs, hooks and traces name), how its answer is read, and
whether sending it twice is harmless. A ``Call`` is one use of a route: the path with its
ids escaped and its query, what is sent, and the caller's ``timeout`` / ``max_retries``.
The endpoints describe calls; the session reads every one of them along one path.
"""

import logging
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Generic, Protocol, TypedDict, TypeVar

import msgspec

from ._dataset_models import (
    any_json_decoder,
    dataset_decoder,
    dataset_upload_decoder,
    dataset_upload_part_decoder,
    dataset_upload_parts_decoder,
)
from ._models import (
    checkpoint_decoder,
    checkpoint_page_decoder,
    custom_model_decoder,
    custom_model_list_decoder,
    event_page_decoder,
    file_decoder,
    file_deleted_decoder,
    file_link_decoder,
    file_page_decoder,
    job_decoder,
    job_page_decoder,
    operation_decoder,
    operation_errors_decoder,
    operation_page_decoder,
    operation_results_decoder,
)

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)


class BodyDecoder(Protocol[T_co]):
    """Reads an answer's body (a cached ``msgspec.json.Decoder`` is one)."""

    def decode(self, buf: bytes, /) -> T_co: ...


class _AsBytes:
    """The body as it came."""

    def decode(self, buf: bytes, /) -> bytes:
        return buf


class _Nothing:
    """No body to read: a download's went to disk."""

    def decode(self, buf: bytes, /) -> None:
        return None


Progress = Callable[[int, int | None], object]
"""Told how far a transfer got: bytes so far, and the total when known."""


def report_progress(
    on_progress: Progress, done: int, total: int | None, *, name: str = "on_progress"
) -> None:
    """Tell ``on_progress`` (the argument called ``name``) how far a transfer got; if it
    raises, that is logged and ignored (a progress bar must not end a transfer)."""
    try:
        on_progress(done, total)
    except Exception:
        logging.getLogger("nebius_ft_async").warning(
            "%s (%r) raised; ignored", name, on_progress, exc_info=True
        )


class Route(msgspec.Struct, Generic[T], frozen=True, gc=False):
    """One endpoint of the API."""

    method: str
    template: str
    decoder: BodyDecoder[T]
    idempotent: bool = True
    """False where a repeat could act twice (a create, a cancel, an upload)."""
    project_scoped: bool = False
    """Takes ``ai_project_id`` (a query parameter) to work within one AI Studio project."""


class Upload(msgspec.Struct, frozen=True, gc=False):
    """A multipart form: ``fields`` and one file part, streamed from disk or from bytes."""

    file: str | os.PathLike[str] | bytes
    filename: str
    fields: dict[str, str]


class FilePart(msgspec.Struct, frozen=True, gc=False):
    """Bytes ``offset`` to ``offset + length`` of a file, streamed from disk as the whole
    body (``application/octet-stream``)."""

    file: str | os.PathLike[str]
    offset: int
    length: int


class CallOptions(TypedDict, total=False):
    """What every endpoint method also takes, as keywords.

    - ``timeout``: seconds for the whole call, retries and waits included (finite, above 0).
    - ``max_retries``: retries of a failed attempt for this call (default: the session's).
    - ``extra_headers``: headers added to this call's request (``Authorization`` cannot be
      set this way: the session sends the key).
    - ``extra_query``: query parameters added to this call's URL.
    - ``ai_project_id``: the AI Studio project of this call (default: the session's), for
      the endpoints that take one (creating and listing); refused by the others.
    """

    timeout: float | None
    max_retries: int | None
    extra_headers: Mapping[str, str] | None
    extra_query: Mapping[str, str] | None
    ai_project_id: str | None


class Call(msgspec.Struct, Generic[T], frozen=True, gc=False):
    """One request as an endpoint describes it."""

    route: Route[T]
    path: str
    """The path below the base URL, ids escaped, with its query."""
    json: bytes | None = None
    """An encoded JSON body."""
    upload: Upload | FilePart | None = None
    """A multipart form, or a part of a file, to stream; with ``download_to``, it makes the
    call a transfer: bounded by silence on the wire rather than by a total time."""
    download_to: Path | None = None
    """Stream the answer into this file (atomically) instead of reading it into memory."""
    on_progress: Progress | None = None
    """Told ``(bytes so far, total or None)`` as a transfer moves."""
    timeout: float | None = None
    """Seconds for the whole call, retries included."""
    max_retries: int | None = None
    extra_headers: Mapping[str, str] | None = None
    extra_query: Mapping[str, str] | None = None
    ai_project_id: str | None = None


JOBS = "/v1/fine_tuning/jobs"
JOB = JOBS + "/{job_id}"
OPERATION = "/v1/operations/{operation_id}"
FILES = "/v1/files"
FILE = FILES + "/{file_id}"

GET_JOB = Route("GET", JOB, job_decoder)
LIST_JOBS = Route("GET", JOBS, job_page_decoder, project_scoped=True)
CREATE_JOB = Route("POST", JOBS, job_decoder, idempotent=False, project_scoped=True)
CANCEL_JOB = Route("POST", JOB + "/cancel", job_decoder, idempotent=False)
LIST_EVENTS = Route("GET", JOB + "/events", event_page_decoder)
LIST_CHECKPOINTS = Route("GET", JOB + "/checkpoints", checkpoint_page_decoder)
GET_CHECKPOINT = Route("GET", JOB + "/checkpoints/{checkpoint_id}", checkpoint_decoder)
GET_OPERATION = Route("GET", OPERATION, operation_decoder)
LIST_OPERATIONS = Route("GET", "/v1/operations", operation_page_decoder, project_scoped=True)
GET_OPERATION_ERRORS = Route("GET", OPERATION + "/errors", operation_errors_decoder)
GET_OPERATION_RESULTS = Route("GET", OPERATION + "/results", operation_results_decoder)
UPLOAD_FILE = Route("POST", FILES, file_decoder, idempotent=False, project_scoped=True)
GET_FILE = Route("GET", FILE, file_decoder)
LIST_FILES = Route("GET", FILES, file_page_decoder, project_scoped=True)
FILE_CONTENT = Route("GET", FILE + "/content", _AsBytes())
DOWNLOAD_FILE = Route("GET", FILE + "/content", _Nothing())
DATASETS = "/v1/datasets"
DATASET = DATASETS + "/{dataset_id}"
DATASET_UPLOADS = DATASETS + "/uploads"
DATASET_UPLOAD = DATASET_UPLOADS + "/{upload_id}"
CREATE_DATASET = Route("POST", DATASETS, dataset_decoder, idempotent=False)
GET_DATASET = Route("GET", DATASET, dataset_decoder)
UPDATE_DATASET = Route("PATCH", DATASET, dataset_decoder, idempotent=False)
DATASET_CONTENT = Route("GET", DATASET + "/content", any_json_decoder)
CREATE_DATASET_UPLOAD = Route(
    "POST", DATASET_UPLOADS, dataset_upload_decoder, idempotent=False, project_scoped=True
)
LIST_DATASET_UPLOAD_PARTS = Route(
    "GET", DATASET_UPLOAD + "/parts", dataset_upload_parts_decoder, project_scoped=True
)
COMPLETE_DATASET_UPLOAD = Route(
    "POST", DATASET_UPLOAD + "/complete", any_json_decoder, idempotent=False, project_scoped=True
)
GET_DATASET_UPLOAD = Route("GET", DATASET_UPLOAD, dataset_upload_decoder, project_scoped=True)
# Sending a part twice is harmless: each answer names a part of its own, and only the ids
# given to complete make the dataset (an unused part is never assembled). So a part is
# retried like a read, after a 5xx or a connection dropped mid-body too.
UPLOAD_DATASET_PART = Route(
    "POST", DATASET_UPLOAD + "/parts", dataset_upload_part_decoder, project_scoped=True
)
CANCEL_DATASET_UPLOAD = Route(
    "POST",
    DATASET_UPLOAD + "/cancel",
    dataset_upload_decoder,
    idempotent=False,
    project_scoped=True,
)
EXPORT_DATASET = Route("GET", DATASET + "/export", _Nothing())
DELETE_FILE = Route("DELETE", FILE, file_deleted_decoder, idempotent=False)
FILE_LINK = Route("GET", FILE + "/link", file_link_decoder)

MODELS = "/v0/models"
SHORT_MODEL = MODELS + "/{name}"
FULL_MODEL = MODELS + "/{vendor}/{full_name}"

CREATE_MODEL = Route("POST", MODELS, custom_model_decoder, idempotent=False, project_scoped=True)
LIST_MODELS = Route("GET", MODELS, custom_model_list_decoder, project_scoped=True)
UPLOAD_MODEL_ARCHIVE = Route(
    "POST", MODELS + "/upload", file_decoder, idempotent=False, project_scoped=True
)
GET_MODEL = Route("GET", SHORT_MODEL, custom_model_decoder)
GET_FULL_MODEL = Route("GET", FULL_MODEL, custom_model_decoder)
DELETE_MODEL = Route("DELETE", SHORT_MODEL, custom_model_decoder, idempotent=False)
DELETE_FULL_MODEL = Route("DELETE", FULL_MODEL, custom_model_decoder, idempotent=False)

ROUTES: tuple[Route[Any], ...] = (
    GET_JOB,
    LIST_JOBS,
    CREATE_JOB,
    CANCEL_JOB,
    LIST_EVENTS,
    LIST_CHECKPOINTS,
    GET_CHECKPOINT,
    GET_OPERATION,
    LIST_OPERATIONS,
    GET_OPERATION_ERRORS,
    GET_OPERATION_RESULTS,
    UPLOAD_FILE,
    GET_FILE,
    LIST_FILES,
    FILE_CONTENT,
    DOWNLOAD_FILE,
    DELETE_FILE,
    FILE_LINK,
    CREATE_DATASET,
    GET_DATASET,
    UPDATE_DATASET,
    DATASET_CONTENT,
    CREATE_DATASET_UPLOAD,
    LIST_DATASET_UPLOAD_PARTS,
    COMPLETE_DATASET_UPLOAD,
    GET_DATASET_UPLOAD,
    UPLOAD_DATASET_PART,
    CANCEL_DATASET_UPLOAD,
    EXPORT_DATASET,
    CREATE_MODEL,
    LIST_MODELS,
    UPLOAD_MODEL_ARCHIVE,
    GET_MODEL,
    GET_FULL_MODEL,
    DELETE_MODEL,
    DELETE_FULL_MODEL,
)
"""Every route the client calls (the fake serves each: a test checks it)."""

"""Exceptions raised by nebius_ft_async, and the pure mapping from a response to one.

The hierarchy::

    NebiusError
     ├── ConfigurationError            bad session settings (also a ValueError)
     ├── WaitError                     a wait ended without what it waited for (kind, last)
     │    ├── JobWaitError             without a final state: an error, or on_update raised
     │    │    └── WaitTimeout         not final in time (also a TimeoutError)
     │    ├── ModelDeploymentError     the model ended in error (status_reason)
     │    └── FileProcessingError      the file could not be processed (status_details)
     ├── DatasetUploadError            a dataset upload that cannot end in a dataset
     └── APIError                      a request did not give a usable answer
          ├── APIStatusError           the server answered with an error status
          │    ├── BadRequestError           400
          │    ├── AuthenticationError       401
          │    ├── PermissionDeniedError     403
          │    ├── NotFoundError             404
          │    ├── ConflictError             409
          │    ├── UnprocessableEntityError  422 (``errors``: the parsed ``detail`` list)
          │    ├── RateLimitError            429 (``retry_after``)
          │    │    └── BudgetRefusalError   not sent: the budget's turn comes too late
          │    └── InternalServerError       5xx
          ├── APIConnectionError       no answer: refused, reset, DNS, dropped mid-body
          │    └── APITimeoutError     no answer in time
          └── ResponseDecodeError      an answer that is not the expected JSON

No message or attribute ever holds the API key.
"""

from __future__ import annotations

from typing import Any

import msgspec

from ._models import CustomModel, FileObject, FineTuningJob, Operation, ValidationErrorItem

BAD_BODY: tuple[type[Exception], ...] = (
    msgspec.DecodeError,
    UnicodeDecodeError,  # invalid UTF-8 inside a JSON string
    RecursionError,  # JSON nested deeper than the interpreter's stack
    ValueError,
    OverflowError,
)
"""What decoding a body the server sent can raise; each becomes a ``ResponseDecodeError``."""

EXCERPT_BYTES = 2048
"""How much of an unexpected body an error keeps."""

_MESSAGE_EXCERPT_CHARS = 200


class NebiusError(Exception):
    """Base of every exception this library raises."""


class ConfigurationError(NebiusError, ValueError):
    """The session cannot be built as asked (no API key, an unsafe base URL, ...)."""


Seen = FineTuningJob | Operation | CustomModel | FileObject
"""What a wait polls: a job, an operation, a custom model or a file."""


class WaitError(NebiusError):
    """A wait (for a job, an operation, a custom model or a file) that ended without what it
    waited for.

    ``kind`` says what was waited for (``"job"``, ``"operation"``, ``"model"`` or
    ``"file"``), ``object_id`` names it (a model by its name), ``last`` is it as last seen
    (``None`` if never seen) and ``error`` the cause if there is one (also ``__cause__``).
    """

    def __init__(
        self,
        message: str,
        *,
        kind: str,
        object_id: str,
        last: Seen | None = None,
        error: BaseException | None = None,
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.object_id = object_id
        self.last = last
        self.error = error
        self.__cause__ = error


class JobWaitError(WaitError):
    """Watching a job (an operation, a model, a file) ended without a final state: a
    permanent error while polling (``error``: a ``NotFoundError``, say), or ``on_update``
    raised.

    Beside ``object_id`` and ``last``: ``job_id`` is ``object_id``, and ``job``,
    ``operation``, ``model`` and ``file`` are ``last`` under the name of its kind (the
    others ``None``).
    """

    @property
    def job_id(self) -> str:
        return self.object_id

    @property
    def job(self) -> FineTuningJob | None:
        return self.last if isinstance(self.last, FineTuningJob) else None

    @property
    def operation(self) -> Operation | None:
        return self.last if isinstance(self.last, Operation) else None

    @property
    def model(self) -> CustomModel | None:
        return self.last if isinstance(self.last, CustomModel) else None

    @property
    def file(self) -> FileObject | None:
        return self.last if isinstance(self.last, FileObject) else None


class WaitTimeout(JobWaitError, TimeoutError):
    """The wait's ``timeout`` passed before a final state; ``last`` is the last one seen."""


class ModelDeploymentError(WaitError):
    """A custom model ended in ``error`` (or was deleted) instead of becoming ``active``.

    ``name`` is the model's name, ``model`` the model as last seen and ``status_reason`` the
    server's reason (``None`` if it gave none).
    """

    def __init__(self, model: CustomModel) -> None:
        reason = model.status_reason or "no reason given"
        message = f"model {model.name} is {model.status}, not active: {reason}"
        super().__init__(message, kind="model", object_id=model.name, last=model)
        self.name = model.name
        self.model = model
        self.status_reason = model.status_reason


class FileProcessingError(WaitError):
    """An uploaded file ended in ``error`` instead of ``processed``.

    ``file_id`` names it, ``file`` is the file as last seen and ``status_details`` the
    server's reason (``None`` if it gave none).
    """

    def __init__(self, file: FileObject) -> None:
        details = file.status_details or "no details given"
        message = f"file {file.id} could not be processed: {details}"
        super().__init__(message, kind="file", object_id=file.id, last=file)
        self.file_id = file.id
        self.file = file
        self.status_details = file.status_details


class DatasetUploadError(NebiusError):
    """A dataset upload that cannot end in a dataset: the server failed or cancelled it,
    its file changed since a journal was written, or its rows do not fit the schema.

    ``upload_id`` names the upload (``None`` before one was created), ``status`` is its last
    status seen and ``error`` the server's reason (``None`` if it gave none).
    """

    def __init__(
        self,
        message: str,
        *,
        upload_id: str | None = None,
        status: str | None = None,
        error: str | None = None,
    ) -> None:
        super().__init__(message)
        self.upload_id = upload_id
        self.status = status
        self.error = error


class APIError(NebiusError):
    """A request to the API did not give a usable answer.

    ``method`` and ``path`` name the request; ``attempts`` is how many times it was sent.
    """

    def __init__(self, message: str, *, method: str = "", path: str = "", attempts: int = 1):
        super().__init__(message)
        self.message = message
        self.method = method
        self.path = path
        self.attempts = attempts

    def __str__(self) -> str:
        if self.attempts > 1:
            return f"{self.message} (after {self.attempts} attempts)"
        return self.message


class APIConnectionError(APIError):
    """The server could not be reached, or the connection broke before a full answer.

    ``request_sent`` is False when the connection failed before anything was sent, so the
    server cannot have acted on the request.
    """

    def __init__(
        self,
        message: str,
        *,
        method: str = "",
        path: str = "",
        attempts: int = 1,
        request_sent: bool = True,
    ):
        super().__init__(message, method=method, path=path, attempts=attempts)
        self.request_sent = request_sent


class APITimeoutError(APIConnectionError):
    """No full answer arrived in time."""


class ResponseDecodeError(APIError):
    """The server answered, but not with the JSON this endpoint returns.

    Keeps ``status_code``, ``content_type``, ``request_id`` and at most 2 KB of the
    body in ``body_excerpt``.
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        content_type: str,
        request_id: str | None,
        body_excerpt: str,
        method: str = "",
        path: str = "",
    ):
        super().__init__(message, method=method, path=path)
        self.status_code = status_code
        self.content_type = content_type
        self.request_id = request_id
        self.body_excerpt = body_excerpt


class APIStatusError(APIError):
    """The server answered with an error status.

    ``detail`` is the parsed error body (FastAPI's ``detail``, or the JSON body, or its
    text); ``retry_after`` is the wait in seconds the server asked for, when it did.
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        request_id: str | None = None,
        detail: Any = None,
        retry_after: float | None = None,
        method: str = "",
        path: str = "",
    ):
        super().__init__(message, method=method, path=path)
        self.status_code = status_code
        self.request_id = request_id
        self.detail = detail
        self.retry_after = retry_after


class BadRequestError(APIStatusError):
    """400: the request was malformed."""


class AuthenticationError(APIStatusError):
    """401: the API key is missing, wrong or revoked."""


class PermissionDeniedError(APIStatusError):
    """403: the key may not do this."""


class NotFoundError(APIStatusError):
    """404: no such job, checkpoint or operation."""


class ConflictError(APIStatusError):
    """409: the request conflicts with the object's current state."""


class UnprocessableEntityError(APIStatusError):
    """422: the server rejected a parameter; ``errors`` lists each problem (loc/msg/type)."""

    @property
    def errors(self) -> list[ValidationErrorItem]:
        """The ``detail`` list of a FastAPI validation error, parsed; empty if it had none."""
        if not isinstance(self.detail, list):
            return []
        try:
            return msgspec.convert(self.detail, list[ValidationErrorItem], strict=False)
        except msgspec.ValidationError:
            return []


class RateLimitError(APIStatusError):
    """429: too many requests; ``retry_after`` says how long the server asked to wait."""


class BudgetRefusalError(RateLimitError):
    """Not sent: the session's request budget could not give the request a turn before its
    deadline, or the server asked for a pause longer than the budget waits out.

    ``retry_after`` is the wait until a turn; ``status_code`` is 429, as the rate limit the
    budget keeps is the server's. The call is not retried: its next try would be refused too.
    """


class InternalServerError(APIStatusError):
    """5xx: the server failed."""


_ERROR_BY_STATUS: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    422: UnprocessableEntityError,
    429: RateLimitError,
}


def error_class_for_status(status: int) -> type[APIStatusError]:
    """The exception class for an HTTP error status."""
    if status >= 500:
        return InternalServerError
    return _ERROR_BY_STATUS.get(status, APIStatusError)


def body_excerpt(body: bytes, limit: int = EXCERPT_BYTES) -> str:
    """At most ``limit`` bytes of a body as text, for error messages."""
    return body[:limit].decode("utf-8", "replace")


def _short(text: str) -> str:
    text = " ".join(text.split())
    if len(text) > _MESSAGE_EXCERPT_CHARS:
        return text[:_MESSAGE_EXCERPT_CHARS] + "..."
    return text


def _format_validation_detail(items: list[Any]) -> str:
    parts = []
    for item in items:
        if isinstance(item, dict):
            loc = ".".join(str(part) for part in item.get("loc", ()))
            msg = str(item.get("msg", ""))
            parts.append(f"{loc}: {msg}" if loc else msg)
        else:
            parts.append(str(item))
    return "; ".join(parts)


def parse_error_body(body: bytes) -> tuple[str, Any]:
    """Read an error body: a one-line summary, and the structured detail.

    Understands FastAPI (``{"detail": "..."}`` or ``{"detail": [{loc, msg, type}]}``) and
    OpenAI-style (``{"error": {"message": ...}}``) bodies; anything else is kept as text.
    """
    if not body.strip():
        return "", None
    try:
        parsed = msgspec.json.decode(body)
    except BAD_BODY:
        text = body_excerpt(body)
        return _short(text), text
    if isinstance(parsed, dict):
        if "detail" in parsed:
            detail = parsed["detail"]
            if isinstance(detail, list):
                return _short(_format_validation_detail(detail)), detail
            if isinstance(detail, str):
                return _short(detail), detail
            return _short(msgspec.json.encode(detail).decode()), detail
        error = parsed.get("error")
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            return _short(error["message"]), parsed
        if isinstance(parsed.get("message"), str):
            return _short(parsed["message"]), parsed
    return _short(body_excerpt(body)), parsed


def status_error(
    status: int,
    reason: str,
    body: bytes,
    *,
    method: str,
    path: str,
    request_id: str | None,
    retry_after: float | None = None,
) -> APIStatusError:
    """Build the exception for an error response; pure, so it is tested without a server."""
    summary, detail = parse_error_body(body)
    message = f"HTTP {status} {reason}".rstrip() + f" on {method} {path}"
    if summary:
        message += f": {summary}"
    if request_id:
        message += f" [request id {request_id}]"
    return error_class_for_status(status)(
        message,
        status_code=status,
        request_id=request_id,
        detail=detail,
        retry_after=retry_after,
        method=method,
        path=path,
    )


def decode_error(
    status: int,
    content_type: str,
    body: bytes,
    problem: str,
    *,
    method: str,
    path: str,
    request_id: str | None,
) -> ResponseDecodeError:
    """Build the exception for a body that is not the JSON the endpoint returns."""
    excerpt = body_excerpt(body)
    shown = _short(excerpt) if excerpt.strip() else "<empty body>"
    message = (
        f"Unexpected response to {method} {path}: HTTP {status}, "
        f"content type {content_type or 'none'}: {problem}; body: {shown}"
    )
    if request_id:
        message += f" [request id {request_id}]"
    return ResponseDecodeError(
        message,
        status_code=status,
        content_type=content_type,
        request_id=request_id,
        body_excerpt=excerpt,
        method=method,
        path=path,
    )

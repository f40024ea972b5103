"""Everything the server sent: the raw view of a call, and the fields models leave out.

Models keep only the fields they declare (decoding stays fast and a monitor of 100,000 jobs
stays small). What else the server sent is reached through ``RawResponse``: its bytes, its
headers, ``json()`` with every field, and ``undeclared()`` with the fields the model lacks.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextvars import ContextVar
from typing import Any, Generic, TypeVar

import msgspec

T = TypeVar("T")


class Exchange(msgspec.Struct, frozen=True, gc=False):
    """One answer as it came off the wire (kept only while a raw view is asked for)."""

    method: str
    route: str
    path: str
    status: int
    headers: Mapping[str, str]
    content: bytes


captured: ContextVar[list[Exchange] | None] = ContextVar("nebius_ft_async_raw", default=None)
"""Where the session records answers while ``with_raw_response`` runs a call."""


class RawResponse(Generic[T]):
    """What the server answered to a call, with the call's result.

    ::

        response = await session.with_raw_response(session.get_job, "ftjob-abc")
        response.status, response.request_id, response.headers["x-ratelimit-remaining"]
        response.json()["tags"]       # every field the server sent, as plain JSON
        response.undeclared()         # only those the model does not declare
        job = response.parse()        # the FineTuningJob the call returns
    """

    __slots__ = ("_result", "content", "headers", "method", "path", "route", "status")

    def __init__(self, exchange: Exchange, result: T) -> None:
        self.status = exchange.status
        self.headers = exchange.headers
        """Case-insensitive, as sent."""
        self.content = exchange.content
        """The body as sent (empty for a download, which went to disk)."""
        self.method = exchange.method
        self.path = exchange.path
        """The path requested, ids and query included."""
        self.route = exchange.route
        """The route's template, such as ``/v1/fine_tuning/jobs/{job_id}``."""
        self._result = result

    def __repr__(self) -> str:
        return f"<RawResponse {self.status} {self.method} {self.path}>"

    @property
    def request_id(self) -> str | None:
        """The server's id for this request (``x-request-id``), for a support ticket."""
        return self.headers.get("x-request-id") or self.headers.get("request-id")

    def parse(self) -> T:
        """What the call returns (the model, page or bytes)."""
        return self._result

    def json(self) -> Any:
        """The body as plain JSON (dicts, lists, strings, numbers): every field sent."""
        return msgspec.json.decode(self.content)

    def undeclared(self) -> Any:
        """The fields the server sent that the result's model does not declare, nested as
        sent (``{}`` when there are none); see ``undeclared_fields``."""
        return undeclared_fields(self._result, self.json())


def undeclared_fields(model: Any, sent: Any) -> Any:
    """What ``sent`` (the JSON a model was decoded from) holds that ``model`` leaves out.

    Nested models give their own undeclared fields under their field's name; a list gives
    a list of each item's (``{}`` for an item with none); ``{}`` when everything is declared.
    """
    if isinstance(model, msgspec.Struct) and isinstance(sent, dict):
        config = model.__struct_config__
        names = {field.encode_name: field.name for field in msgspec.structs.fields(model)}
        extra: dict[str, Any] = {}
        for key, value in sent.items():
            if key == config.tag_field:
                continue
            if key not in names:
                extra[key] = value
            elif inner := undeclared_fields(getattr(model, names[key]), value):
                extra[key] = inner
        return extra
    if isinstance(model, list) and isinstance(sent, list):
        items = [undeclared_fields(item, raw) for item, raw in zip(model, sent, strict=False)]
        return items if any(items) else {}
    return {}

"""What the fake's handlers answer with: JSON bodies, ``{"detail": ...}`` errors, a 404 to
raise, and a cursor page of a list."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
from aiohttp import web

from .._routes import Route
from ._validation import shown

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Routes = list[tuple[Route[Any], Handler]]
"""A part of the fake's API: each route of ``nebius_ft_async._routes`` with its handler."""

_encode = msgspec.json.Encoder().encode


def json_answer(
    body: Any, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    return web.Response(
        body=_encode(body), status=status, content_type="application/json", headers=headers
    )


def error_answer(status: int, detail: str, headers: dict[str, str] | None = None) -> web.Response:
    return json_answer({"detail": detail}, status=status, headers=headers)


def not_found(detail: str) -> web.HTTPNotFound:
    return web.HTTPNotFound(
        text=_encode({"detail": shown(detail)}).decode(), content_type="application/json"
    )


def list_page(items: list[dict[str, Any]], limit: int, after: str | None) -> dict[str, Any]:
    limit = max(1, limit)
    start = 0
    if after is not None:
        ids = [item["id"] for item in items]
        start = ids.index(after) + 1 if after in ids else len(items)
    chunk = items[start : start + limit]
    return {
        "object": "list",
        "data": chunk,
        "has_more": start + limit < len(items),
        "first_id": chunk[0]["id"] if chunk else None,
        "last_id": chunk[-1]["id"] if chunk else None,
    }

"""Request bodies as Starlette reads them, before they are checked: JSON, a multipart or
URL-encoded form; a 400 (``Unparsable``) for one that cannot be parsed at all."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import BodyPartReader, web

from ._validation import INVALID, Unparsable, Unprocessable, Upload, problem


async def read_json(request: web.Request) -> Any:
    """A JSON body as FastAPI reads it: ``INVALID`` for none, JSON for a JSON content type
    (or none), the bytes otherwise; a 422 ``json_invalid`` for broken JSON."""
    raw = await request.read()
    if not raw:
        return INVALID
    content_type = request.headers.get("Content-Type", "")
    media = content_type.split(";")[0].strip().lower()
    json_media = media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    )
    if content_type and not json_media:
        return raw
    try:
        return json.loads(raw)
    except json.JSONDecodeError as error:
        broken = problem("json_invalid", ("body", error.pos), "JSON decode error", {})
        broken["ctx"] = {"error": error.msg}
        raise Unprocessable([broken]) from None
    except (ValueError, RecursionError):  # not UTF-8, too deep, a number too long
        raise Unparsable from None


def _text(raw: bytes) -> str:
    """A form field's text as Starlette decodes it: UTF-8, else Latin-1."""
    try:
        return raw.decode()
    except UnicodeDecodeError:
        return raw.decode("latin-1")


async def read_form(request: web.Request) -> dict[str, Any]:
    """A form body as Starlette reads it (the last of a repeated field counts): a multipart
    body part by part (a file part streamed into memory), a URL-encoded one, or nothing for
    any other content type."""
    fields: dict[str, Any] = {}
    if request.content_type == "application/x-www-form-urlencoded":
        for name, value in parse_qsl(_text(await request.read()), keep_blank_values=True):
            fields[name] = value
        return fields
    if request.content_type != "multipart/form-data":
        return fields
    try:
        async for part in await request.multipart():
            if not isinstance(part, BodyPartReader) or not part.name:
                continue
            if part.filename is None:
                fields[part.name] = _text(await part.read())
                continue
            chunks = []
            while chunk := await part.read_chunk(1 << 16):
                chunks.append(chunk)
            fields[part.name] = Upload(part.filename, b"".join(chunks))
    except web.HTTPException:
        raise
    except Exception:  # what FastAPI does with a body it cannot parse: 400
        raise Unparsable from None
    return fields

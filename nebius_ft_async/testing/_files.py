"""The files part of the fake: ``/v1/files`` (uploads, statuses scripted with
``script_file``, content) and the object storage that a file's content is redirected to,
through links signed as S3 signs them."""

from __future__ import annotations

import calendar
import hashlib
import itertools
import time
from typing import Literal

from aiohttp import web

from .. import _routes as routes
from ._answers import Routes, json_answer, not_found
from ._requests import UPLOAD_FORM, checked_form, checked_query
from ._state import FakeState
from ._validation import Upload, shown

_AMZ_DATE = "%Y%m%dT%H%M%SZ"


def _storage_error(status: int, code: str, message: str) -> web.Response:
    """An S3-style error answer."""
    body = f"<Error><Code>{code}</Code><Message>{message}</Message></Error>"
    return web.Response(status=status, text=body, content_type="application/xml")


class FilesAPI(FakeState):
    """Uploaded files and the storage that serves their content."""

    def _file_routes(self) -> Routes:
        return [
            (routes.UPLOAD_FILE, self._upload_file),
            (routes.LIST_FILES, self._list_files),
            (routes.GET_FILE, self._get_file),
            (routes.FILE_CONTENT, self._file_content),
            (routes.FILE_LINK, self._file_link),
            (routes.DELETE_FILE, self._delete_file),
        ]

    def fail_storage_next(
        self, fault: int | Literal["drop", "cut"] = 503, *, times: int = 1
    ) -> None:
        """Have the object storage answer the next ``times`` requests with an error status
        (an S3-style XML body), drop the connection (``"drop"``), or send half of the
        content and then close the connection (``"cut"``)."""

        async def answer(request: web.Request) -> web.StreamResponse:
            if fault == "cut":
                content = self.file_contents.get(request.match_info.get("file_id", ""), b"")
                response = web.StreamResponse(headers={"Content-Length": str(len(content))})
                await response.prepare(request)
                await response.write(content[: len(content) // 2])
                if request.transport is not None:
                    request.transport.close()
                return response
            if fault == "drop":
                if request.transport is not None:
                    request.transport.close()
                return web.Response()
            return _storage_error(fault, "InternalError", f"injected {fault}")

        self._storage_faults.extend(answer for _ in range(times))

    def script_file(self, file_id: str, *statuses: str, status_details: str | None = None) -> None:
        """Show these statuses to successive GETs of an uploaded file, the last one for good
        (with ``status_details``): ``script_file(id, "uploaded", "processed")``."""
        if file_id not in self.files:
            raise ValueError(f"no file {file_id!r} to script")
        if not statuses:
            raise ValueError("script_file needs at least one status")
        self._file_scripts[file_id] = (list(statuses), status_details)

    async def _upload_file(self, request: web.Request) -> web.Response:
        checked = await checked_form(request, UPLOAD_FORM, "upload_file")
        upload: Upload = checked["file"]
        file_id = f"file-{next(self._ids):06d}"
        self.file_contents[file_id] = upload.content
        self.files[file_id] = {
            "id": file_id,
            "object": "file",
            "bytes": len(upload.content),
            "created_at": int(time.time()),
            "filename": shown(upload.filename) or "upload.jsonl",
            "purpose": checked["purpose"],
            "status": "processed",
            "status_details": None,
        }
        return json_answer(self.files[file_id])

    async def _list_files(self, request: web.Request) -> web.Response:
        query = checked_query(request, "list_files")
        purpose = query["purpose"]
        files = (f for f in self.files.values() if purpose in (None, f["purpose"]))
        limit = min(max(1, query["limit"]), len(self.files))  # the API's default is 10
        return json_answer({"object": "list", "data": list(itertools.islice(files, limit))})

    def _file(self, request: web.Request) -> str:
        file_id = request.match_info["file_id"]
        if file_id not in self.files:
            raise not_found(f"File {file_id} not found")
        return file_id

    async def _get_file(self, request: web.Request) -> web.Response:
        file_id = self._file(request)
        self._step_file(file_id)
        return json_answer(self.files[file_id])

    async def _file_content(self, request: web.Request) -> web.Response:
        file_id = self._file(request)
        if not self.redirect_content:
            return web.Response(
                body=self.file_contents.get(file_id, b""), content_type="application/octet-stream"
            )
        raise web.HTTPFound(self._signed_link(f"/files/{file_id}"))

    async def _file_link(self, request: web.Request) -> web.Response:
        return json_answer({"url": self._signed_link(f"/files/{self._file(request)}")})

    async def _delete_file(self, request: web.Request) -> web.Response:
        file_id = self._file(request)
        del self.files[file_id]
        self.file_contents.pop(file_id, None)
        return json_answer({"id": file_id, "object": "file", "deleted": True})

    def _signed_link(self, path: str) -> str:
        """A link to ``path`` on the storage, valid for ``link_lifetime`` seconds."""
        issued = time.strftime(_AMZ_DATE, time.gmtime())
        lifetime = f"{self.link_lifetime:g}"
        signature = self._link_signature(path, issued, lifetime)
        query = f"X-Amz-Date={issued}&X-Amz-Expires={lifetime}&X-Amz-Signature={signature}"
        return f"{self.storage_url}{path}?{query}"

    def _link_signature(self, path: str, issued: str, lifetime: str) -> str:
        return hashlib.sha256(f"{self._signature}{path}/{issued}/{lifetime}".encode()).hexdigest()

    def _storage_refusal(self, request: web.Request) -> web.Response | None:
        """Why the storage refuses ``request`` (as S3 does), or ``None``."""
        self.storage_requests += 1
        if "Authorization" in request.headers:
            return _storage_error(
                400,
                "InvalidArgument",
                "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, "
                "Signature query string parameter or the Authorization header should be "
                "specified",
            )
        query = request.query
        issued, lifetime = query.get("X-Amz-Date", ""), query.get("X-Amz-Expires", "")
        if query.get("X-Amz-Signature") != self._link_signature(request.path, issued, lifetime):
            return _storage_error(403, "SignatureDoesNotMatch", "The signature does not match")
        # signed above, so both are as the fake wrote them
        expires = calendar.timegm(time.strptime(issued, _AMZ_DATE)) + float(lifetime)
        if time.time() >= expires:
            return _storage_error(403, "AccessDenied", "Request has expired")
        return None

    async def _stored_content(self, request: web.Request) -> web.StreamResponse:
        """Object storage: a signed link's content, for no other credentials."""
        refusal = self._storage_refusal(request)
        if refusal is not None:
            return refusal
        if self._storage_faults:
            return await self._storage_faults.pop(0)(request)
        content = self.file_contents.get(request.match_info["file_id"])
        if content is None:
            return _storage_error(404, "NoSuchKey", "The specified key does not exist.")
        return web.Response(body=content, content_type="application/octet-stream")

    def _step_file(self, file_id: str) -> None:
        script = self._file_scripts.get(file_id)
        if script is None:
            return
        statuses, details = script
        file = self.files[file_id]
        if len(statuses) > 1:
            file["status"], file["status_details"] = statuses.pop(0), None
        else:
            file["status"], file["status_details"] = statuses[0], details

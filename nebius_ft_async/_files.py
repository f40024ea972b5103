"""Files: upload, details, lists, content and downloads (``/v1/files``)."""

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Unpack

import anyio

from ._calls import CallPerformer
from ._models import FileDeleted, FileLink, FileObject, Page
from ._routes import (
    DELETE_FILE,
    DOWNLOAD_FILE,
    FILE_CONTENT,
    FILE_LINK,
    FILES,
    GET_FILE,
    LIST_FILES,
    UPLOAD_FILE,
    Call,
    CallOptions,
    Progress,
    Upload,
)
from ._urls import page_query, path_segment


def file_path(file_id: str) -> str:
    return f"{FILES}/{path_segment(file_id, 'file_id')}"


class FileEndpoints(CallPerformer):
    """Files: upload, get, list, content, download, link, delete."""

    async def upload_file(
        self,
        file: str | os.PathLike[str] | bytes,
        *,
        purpose: str = "fine-tune",
        filename: str | None = None,
        on_progress: Progress | None = None,
        **options: Unpack[CallOptions],
    ) -> FileObject:
        """Upload a file: ``POST /v1/files`` (multipart).

        ``file`` is a path, streamed from disk as it is sent (a multi-GB JSONL is never
        read into memory), or the content as bytes. ``filename`` defaults to the path's
        name. ``on_progress(sent, total)`` is told the bytes taken so far, up to ten times a
        second, and once more at the end (it must be quick; if it raises, that is logged
        and ignored). Not retried once the upload may have reached the server.
        """
        if isinstance(file, bytes):
            name = filename or "upload.jsonl"
        else:
            source = Path(file)
            if not await anyio.Path(source).is_file():
                raise FileNotFoundError(f"no file to upload at {source}")
            name = filename or source.name
        upload = Upload(file, name, {"purpose": purpose})
        call = Call(UPLOAD_FILE, FILES, upload=upload, on_progress=on_progress, **options)
        return await self._perform(call)

    async def get_file(self, file_id: str, **options: Unpack[CallOptions]) -> FileObject:
        """A file's details: ``GET /v1/files/{file_id}``."""
        return await self._perform(Call(GET_FILE, file_path(file_id), **options))

    async def list_files(
        self,
        *,
        limit: int | None = None,
        purpose: str | None = None,
        **options: Unpack[CallOptions],
    ) -> Page[FileObject]:
        """Uploaded files: ``GET /v1/files`` (the API documents no cursor for this list)."""
        path = FILES + page_query(limit, None, purpose=purpose)
        return await self._perform(Call(LIST_FILES, path, **options))

    async def file_content(self, file_id: str, **options: Unpack[CallOptions]) -> bytes:
        """A small file's content in memory: ``GET /v1/files/{file_id}/content``.

        Bounded by the session's ``max_response_bytes``; use ``download_file`` for large files.
        """
        path = file_path(file_id) + "/content"
        return await self._perform(Call(FILE_CONTENT, path, **options))

    async def download_file(
        self,
        file_id: str,
        destination: str | os.PathLike[str],
        *,
        on_progress: Progress | None = None,
        **options: Unpack[CallOptions],
    ) -> Path:
        """Stream a file's content to ``destination`` and return its path.

        Written to a temporary file beside it and renamed once complete, so an interrupted
        or short download never leaves a partial file under the final name. Works for a
        checkpoint's ``result_files`` ids and a ``DatasetFileResult.file_id`` alike.
        ``on_progress(received, total)`` is told the bytes received after each chunk
        (``total`` is ``None`` when the server does not say; a retry starts again from 0).
        """
        target = Path(destination)
        path = file_path(file_id) + "/content"
        call = Call(DOWNLOAD_FILE, path, download_to=target, on_progress=on_progress, **options)
        await self._perform(call)
        return target

    async def file_link(self, file_id: str, **options: Unpack[CallOptions]) -> FileLink:
        """A signed link to a file's content: ``GET /v1/files/{file_id}/link``.

        Whoever holds the link can fetch the file until it expires, with no key: the
        ``FileLink``'s ``repr`` shows its host only, and it is never logged.
        """
        return await self._perform(Call(FILE_LINK, file_path(file_id) + "/link", **options))

    async def delete_file(self, file_id: str, **options: Unpack[CallOptions]) -> FileDeleted:
        """Delete an uploaded file: ``DELETE /v1/files/{file_id}``."""
        return await self._perform(Call(DELETE_FILE, file_path(file_id), **options))

    async def download_files(
        self, file_ids: Iterable[str], directory: str | os.PathLike[str]
    ) -> list[Path]:
        """Download several files (a checkpoint's ``result_files``) into ``directory``.

        Each keeps the name the API gives it (``FileObject.filename``), or its id when that
        name is empty, unsafe or already taken.
        """
        folder = Path(directory)
        await anyio.Path(folder).mkdir(parents=True, exist_ok=True)
        paths: list[Path] = []
        for file_id in file_ids:
            info = await self.get_file(file_id)
            name = safe_filename(info.filename, file_id, {path.name for path in paths})
            paths.append(await self.download_file(file_id, folder / name))
        return paths


_MAX_NAME_BYTES = 200


def safe_filename(name: str, file_id: str, taken: set[str]) -> str:
    """The local name of a downloaded file, as ``download_files`` gives it: ``name`` (the
    file's ``filename``) if it is a plain, reasonably short file name not in ``taken``, else
    ``file_id``."""
    plain = os.path.basename(name.replace("\\", "/"))
    if (
        not plain
        or plain in (".", "..")
        or plain != name
        or plain in taken
        or "\0" in plain
        or len(plain.encode()) > _MAX_NAME_BYTES
    ):
        return path_segment(file_id, "file_id")
    return plain

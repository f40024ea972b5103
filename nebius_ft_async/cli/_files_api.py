"""``nebius-ft files upload|list|get|download|link|delete``: data files on the API.

``upload`` checks a fine-tuning file first (as ``files check`` does) and sends nothing when
it has errors; ``download`` is atomic, as ``AsyncSession.download_file`` is: an interrupted
download leaves no partial file under the destination's name. While a file is on the wire a
progress bar shows on a terminal (a spinner while a file is checked). ``link`` prints a
signed download link (it is the file's key until it expires: printed, never logged);
``delete`` asks first on a terminal and refuses without ``--yes`` otherwise.
"""

from __future__ import annotations

import argparse
import sys
from contextlib import redirect_stdout
from pathlib import Path

import anyio

from .._datacheck import check_data_file
from .._files import safe_filename
from .._models import FileObject
from .._session import AsyncSession
from ._display import when_text
from ._shared import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    confirm,
    json_option,
    print_answer,
    print_data_report,
    print_json,
    print_raw,
    print_rows,
    print_table,
    size_text,
    size_to_upload,
    spinner,
    timeout_option,
    transfer_bar,
    whole_number,
)

FINE_TUNE = "fine-tune"


def add_file_actions(
    actions: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    """Add ``upload``, ``list``, ``get``, ``download``, ``link`` and ``delete`` to the actions
    of ``files``."""
    upload = actions.add_parser("upload", parents=[common], help="upload a data file")
    upload.add_argument("path")
    upload.add_argument(
        "--purpose", default=FINE_TUNE, help=f"what the file is for (default {FINE_TUNE})"
    )
    upload.add_argument(
        "--no-check",
        action="store_true",
        help="upload without checking a fine-tune file first (as 'files check' does)",
    )
    json_option(upload, "the uploaded file")
    timeout_option(upload)
    upload.set_defaults(run=files_upload)

    listing = actions.add_parser("list", parents=[common], help="list uploaded files")
    listing.add_argument("--limit", type=whole_number, help="show at most this many files")
    listing.add_argument("--purpose", help="only files with this purpose")
    json_option(listing, "one file per line")
    timeout_option(listing)
    listing.set_defaults(run=files_list)

    get = actions.add_parser("get", parents=[common], help="show a file's details")
    get.add_argument("file_id")
    json_option(get, "the file")
    timeout_option(get)
    get.set_defaults(run=files_get)

    download = actions.add_parser(
        "download", parents=[common], help="download a file's content (atomically)"
    )
    download.add_argument("file_id")
    download.add_argument(
        "destination", help="a file to write, or a folder to write the file into under its name"
    )
    json_option(download, "the file's details and the path written")
    timeout_option(download)
    download.set_defaults(run=files_download)

    link = actions.add_parser(
        "link", parents=[common], help="print a signed link to a file's content"
    )
    link.add_argument("file_id")
    json_option(link, "the link as the server sent it")
    timeout_option(link)
    link.set_defaults(run=files_link)

    delete = actions.add_parser("delete", parents=[common], help="delete an uploaded file")
    delete.add_argument("file_id")
    delete.add_argument("--yes", action="store_true", help="delete without asking")
    json_option(delete, "the server's answer")
    timeout_option(delete)
    delete.set_defaults(run=files_delete)


def _file_rows(file: FileObject) -> list[tuple[str, str]]:
    rows = [
        ("id", file.id),
        ("filename", file.filename or "-"),
        ("purpose", file.purpose or "-"),
        ("size", size_text(file.bytes)),
        ("created", when_text(file.created_at)),
        ("status", file.status or "-"),
    ]
    if file.status_details:
        rows.append(("details", file.status_details))
    return rows


async def files_upload(session: AsyncSession, args: argparse.Namespace) -> int:
    """Run ``files upload``; the exit code."""
    path = Path(args.path)
    if await size_to_upload(path) is None:
        return EXIT_USAGE
    if args.purpose == FINE_TUNE and not args.no_check:
        with spinner(f"checking {path.name}"):
            report = await anyio.to_thread.run_sync(check_data_file, path)
        if not report.ok:
            with redirect_stdout(sys.stderr):
                print_data_report(report)
            print(
                f"nebius-ft: {path} not uploaded: it has errors (--no-check uploads it anyway)",
                file=sys.stderr,
            )
            return EXIT_FAILED
    with transfer_bar(f"uploading {path.name}") as on_progress:
        response = await session.with_raw_response(
            session.upload_file, path, purpose=args.purpose, on_progress=on_progress
        )
    if args.json:
        print_raw(response)
    else:
        print_rows(_file_rows(response.parse()))
    return EXIT_OK


async def files_list(session: AsyncSession, args: argparse.Namespace) -> int:
    """Run ``files list``; the exit code."""
    response = await session.with_raw_response(
        session.list_files, limit=args.limit, purpose=args.purpose
    )
    if args.json:
        for item in response.json().get("data", []):
            print_json(item)
        return EXIT_OK
    files = response.parse().data
    rows = [
        [f.id, size_text(f.bytes), when_text(f.created_at), f.purpose or "-", f.filename or "-"]
        for f in files
    ]
    headers = ["id", "size", "created (UTC)", "purpose", "filename"]
    print_table(rows, headers)
    return EXIT_OK


async def files_get(session: AsyncSession, args: argparse.Namespace) -> int:
    """Run ``files get``; the exit code."""
    response = await session.with_raw_response(session.get_file, args.file_id)
    print_answer(response, args.json, lambda file: print_rows(_file_rows(file)))
    return EXIT_OK


async def files_download(session: AsyncSession, args: argparse.Namespace) -> int:
    """Run ``files download``; the exit code."""
    details = await session.with_raw_response(session.get_file, args.file_id)
    file = details.parse()
    destination = Path(args.destination)
    if await anyio.Path(destination).is_dir():  # named as download_files names it
        destination /= safe_filename(file.filename, file.id, set())
    try:
        with transfer_bar(f"downloading {destination.name}") as on_progress:
            written = await session.download_file(
                args.file_id, destination, on_progress=on_progress
            )
    except OSError as error:
        print(f"nebius-ft: cannot write {destination}: {error.strerror or error}", file=sys.stderr)
        return EXIT_USAGE
    if args.json:
        print_json({"file": details.json(), "path": str(written)})
    else:
        print(f"{file.id} -> {written} ({size_text(written.stat().st_size)})")
    return EXIT_OK


async def files_link(session: AsyncSession, args: argparse.Namespace) -> int:
    """Run ``files link``; the exit code."""
    response = await session.with_raw_response(session.file_link, args.file_id)
    print_answer(response, args.json, lambda link: print(link.url, flush=True))
    return EXIT_OK


async def files_delete(session: AsyncSession, args: argparse.Namespace) -> int:
    """Run ``files delete``; the exit code."""
    if not confirm(
        f"Delete file {args.file_id}?",
        yes=args.yes,
        refusal=f"files delete: {args.file_id} not deleted without confirmation",
        declined="not deleted",
    ):
        return EXIT_FAILED
    response = await session.with_raw_response(session.delete_file, args.file_id)
    print_answer(response, args.json, lambda deleted: print(f"deleted {deleted.id}", flush=True))
    return EXIT_OK

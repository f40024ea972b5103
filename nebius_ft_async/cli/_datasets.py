"""``nebius-ft datasets upload|export|get``: datasets on the API.

``upload`` sends a file in parts, several at once, as ``AsyncSession.upload_dataset`` does:
a progress bar of bytes and parts on a terminal, the dataset once the server has assembled
it. Its journal (``FILE.upload.json``) lets ``--resume`` go on after a crash; an upload that
fails or is interrupted is cancelled on the server unless ``--keep-on-error`` keeps it for
``--resume``. ``export`` writes a dataset's rows to a file atomically, as downloads are.

``--schema`` takes the columns as ``name:type`` pairs (``text:string,label:int``), as a
JSON array of column objects (``[{"name": "text", "type": {"name": "string"}}]``) or as
``@FILE`` holding that array.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Any

import anyio
import msgspec

from .._dataset_models import Dataset
from .._dataset_upload import (
    DEFAULT_PART_SIZE,
    DEFAULT_UPLOAD_CONCURRENCY,
    MAX_UPLOAD_CONCURRENCY,
    schema_problems,
)
from .._datasets import EXPORT_FORMATS
from .._session import AsyncSession
from .._urls import path_segment
from ._display import when_text
from ._shared import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    json_option,
    parts_bar,
    print_answer,
    print_json,
    print_raw,
    print_rows,
    project_option,
    project_options,
    size_text,
    size_to_upload,
    spinner,
    timeout_option,
    transfer_bar,
    whole_number,
)

_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}
_SIZE = re.compile(r"(\d+)\s*([kmg]?)(?:i?b)?", re.IGNORECASE)
_COLUMN = re.compile(r"[^\s:,]+")


def add_datasets_command(
    commands: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    """Add ``datasets`` (``upload``, ``export``, ``get``) to the subcommands of ``nebius-ft``."""
    datasets = commands.add_parser(
        "datasets", help="upload datasets in parts, export and show them", parents=[common]
    )
    actions = datasets.add_subparsers(dest="action", required=True, metavar="ACTION")

    upload = actions.add_parser(
        "upload",
        parents=[common],
        help="upload a dataset file in parts (resumable)",
        description="Upload a file as a dataset, in parts sent several at once, and wait "
        "until the server has assembled it. The file's bytes go as they are; a JSON Lines "
        "file has its first 100 rows checked against --schema first.",
    )
    upload.add_argument("path")
    upload.add_argument("--name", required=True, help="the dataset's name")
    upload.add_argument(
        "--schema",
        required=True,
        type=schema_argument,
        help="its columns: name:type,... (text:string), a JSON array of columns, or @FILE",
    )
    upload.add_argument("--folder", required=True, help="the folder to keep it in (/datasets)")
    upload.add_argument(
        "--part-size",
        type=byte_size,
        default=DEFAULT_PART_SIZE,
        metavar="SIZE",
        help="bytes a part: a number, or with k, M or G (binary: 64M is 64 MiB, the default)",
    )
    upload.add_argument(
        "--concurrency",
        type=concurrency,
        default=DEFAULT_UPLOAD_CONCURRENCY,
        help=f"parts sent at once (default {DEFAULT_UPLOAD_CONCURRENCY}, at most "
        f"{MAX_UPLOAD_CONCURRENCY})",
    )
    upload.add_argument(
        "--resume",
        action="store_true",
        help="go on with the upload FILE.upload.json records (after a crash or --keep-on-error)",
    )
    upload.add_argument(
        "--journal",
        metavar="PATH",
        help="keep the journal there (default FILE.upload.json, beside the file)",
    )
    upload.add_argument(
        "--keep-on-error",
        action="store_true",
        help="on failure or Ctrl-C keep the upload and its journal for --resume (default: "
        "cancel it on the server)",
    )
    upload.add_argument(
        "--no-check", action="store_true", help="skip checking a JSON Lines file's first rows"
    )
    project_option(upload, "upload into this AI Studio project")
    json_option(upload, "the dataset")
    timeout_option(upload)
    upload.set_defaults(run=datasets_upload)

    export = actions.add_parser(
        "export", parents=[common], help="write a dataset's rows to a file (atomically)"
    )
    export.add_argument("dataset_id")
    export.add_argument(
        "destination", help="the file to write, or a folder to write DATASET_ID.FORMAT into"
    )
    export.add_argument(
        "--format", choices=EXPORT_FORMATS, default="jsonl", help="jsonl (default) or csv"
    )
    json_option(export, "the path written and its size")
    timeout_option(export)
    export.set_defaults(run=datasets_export)

    get = actions.add_parser("get", parents=[common], help="show a dataset's details")
    get.add_argument("dataset_id")
    json_option(get, "the dataset")
    timeout_option(get)
    get.set_defaults(run=datasets_get)


def byte_size(text: str) -> int:
    """An argparse type: a size of at least 1 byte, ``65536``, ``64k``, ``64M``, ``1GiB``."""
    match = _SIZE.fullmatch(text.strip())
    size = 0 if match is None else int(match[1]) * _UNITS[match[2].lower()]
    if size < 1:
        raise argparse.ArgumentTypeError(
            f"must be a size of at least 1 byte (65536, 64k, 64M, 1G), got {text!r}"
        )
    return size


def concurrency(text: str) -> int:
    """An argparse type: a whole number of parts at once, 1 to ``MAX_UPLOAD_CONCURRENCY``."""
    value = whole_number(text)
    if value > MAX_UPLOAD_CONCURRENCY:
        raise argparse.ArgumentTypeError(f"must be at most {MAX_UPLOAD_CONCURRENCY}, got {text!r}")
    return value


def schema_argument(text: str) -> list[dict[str, Any]]:
    """An argparse type: the columns of ``--schema`` (see the module's docstring)."""
    if text.startswith("@"):
        try:
            text = Path(text[1:]).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise argparse.ArgumentTypeError(f"cannot read {text[1:]}: {error}") from None
        return _schema_json(text)
    if text.lstrip().startswith("["):
        return _schema_json(text)
    columns = []
    for pair in text.split(","):
        name, colon, kind = pair.strip().partition(":")
        if not colon or not _COLUMN.fullmatch(name) or not _COLUMN.fullmatch(kind):
            raise argparse.ArgumentTypeError(
                f"columns go as name:type,name:type (text:string), got {pair.strip()!r}"
            )
        columns.append({"name": name, "type": {"name": kind}})
    return columns


def _schema_json(text: str) -> list[dict[str, Any]]:
    try:
        columns = msgspec.json.decode(text)
    except msgspec.DecodeError as error:
        raise argparse.ArgumentTypeError(f"the schema is not valid JSON: {error}") from None
    if not columns or not isinstance(columns, list):
        raise argparse.ArgumentTypeError("the schema must be a JSON array of columns")
    if not all(isinstance(column, dict) for column in columns):
        raise argparse.ArgumentTypeError("each column of the schema must be a JSON object")
    return columns


def _column_text(column: dict[str, Any]) -> str:
    """``name:type`` of a column as the server sent it (``?`` for what it left out)."""
    kind = column.get("type")
    kind_name = kind.get("name") if isinstance(kind, dict) else kind
    return f"{column.get('name', '?')}:{kind_name or '?'}"


def _dataset_rows(dataset: Dataset) -> list[tuple[str, str]]:
    columns = ", ".join(_column_text(column) for column in dataset.schema)
    return [
        ("id", dataset.id),
        ("name", dataset.name or "-"),
        ("folder", dataset.folder or "-"),
        ("status", dataset.status or "-"),
        ("version", dataset.current_version or "-"),
        ("columns", columns or "-"),
        ("created", when_text(dataset.created_at)),
    ]


async def datasets_upload(session: AsyncSession, args: argparse.Namespace) -> int:
    """Run ``datasets upload``; the exit code."""
    path = Path(args.path)
    size = await size_to_upload(path)
    if size is None:
        return EXIT_USAGE
    if size == 0:
        print(f"nebius-ft: cannot upload {path}: it is empty", file=sys.stderr)
        return EXIT_USAGE
    if not args.no_check:
        with spinner(f"checking {path.name}"):
            problems = await anyio.to_thread.run_sync(schema_problems, path, args.schema)
        if problems:
            print(f"{path}: rows that do not fit --schema:", file=sys.stderr)
            for problem in problems:
                print(f"  {problem}", file=sys.stderr)
            print(f"nebius-ft: {path} not uploaded (--no-check uploads it anyway)", file=sys.stderr)
            return EXIT_FAILED
    finishing = f"assembling {args.name} on the server"
    with parts_bar(f"uploading {path.name}", finishing) as callbacks:
        on_progress, on_part = (None, None) if callbacks is None else callbacks
        dataset = await session.upload_dataset(
            path,
            name=args.name,
            schema=args.schema,
            folder=args.folder,
            part_size=args.part_size,
            concurrency=args.concurrency,
            on_progress=on_progress,
            on_part=on_part,
            resume=args.resume,
            journal=args.journal,
            keep_on_error=args.keep_on_error,
            check=False,  # checked above
            **project_options(args),
        )
    if args.json:  # the dataset as the server sends it, every field
        print_raw(await session.with_raw_response(session.get_dataset, dataset.id))
    else:
        print_rows(_dataset_rows(dataset))
    return EXIT_OK


async def datasets_export(session: AsyncSession, args: argparse.Namespace) -> int:
    """Run ``datasets export``; the exit code."""
    destination = Path(args.destination)
    if await anyio.Path(destination).is_dir():
        destination /= f"{path_segment(args.dataset_id, 'dataset_id')}.{args.format}"
    try:
        with transfer_bar(f"exporting {destination.name}") as on_progress:
            written = await session.export_dataset(
                args.dataset_id, destination, format=args.format, on_progress=on_progress
            )
    except OSError as error:
        print(f"nebius-ft: cannot write {destination}: {error.strerror or error}", file=sys.stderr)
        return EXIT_USAGE
    written_size = written.stat().st_size
    if args.json:
        print_json({"dataset_id": args.dataset_id, "path": str(written), "bytes": written_size})
    else:
        print(f"{args.dataset_id} -> {written} ({size_text(written_size)})")
    return EXIT_OK


async def datasets_get(session: AsyncSession, args: argparse.Namespace) -> int:
    """Run ``datasets get``; the exit code."""
    response = await session.with_raw_response(session.get_dataset, args.dataset_id)
    print_answer(response, args.json, lambda dataset: print_rows(_dataset_rows(dataset)))
    return EXIT_OK

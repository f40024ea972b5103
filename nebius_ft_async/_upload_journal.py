"""The journal of a dataset upload in parts: what lets ``upload_dataset(..., resume=True)``
send only the parts a crashed run did not.

It is a small JSON file beside the data file (``data.jsonl`` -> ``data.jsonl.upload.json``)
naming the upload, the part size, a fingerprint of the file (its size and modification
time) and the id the server gave each part sent. It is rewritten atomically after each
part, and removed once the dataset is complete or the upload is over for good.
"""

import hashlib
import os
from pathlib import Path

import msgspec

JOURNAL_SUFFIX = ".upload.json"


class Journal(msgspec.Struct, kw_only=True):
    """One upload's progress, as written to disk."""

    upload_id: str
    part_size: int
    size: int
    fingerprint: str
    parts: dict[int, str] = msgspec.field(default_factory=dict)
    """The server's part id by part index (0 for the file's first ``part_size`` bytes)."""


def journal_path(source: Path) -> Path:
    """Where the journal of an upload of ``source`` is kept."""
    return source.with_name(source.name + JOURNAL_SUFFIX)


def fingerprint(stat: os.stat_result) -> str:
    """What changes when the file does: a hash of its size and modification time."""
    return hashlib.sha256(f"{stat.st_size}:{stat.st_mtime_ns}".encode()).hexdigest()[:32]


def part_plan(size: int, part_size: int) -> list[tuple[int, int]]:
    """``(offset, length)`` of each part of a file of ``size`` bytes, in file order."""
    return [(offset, min(part_size, size - offset)) for offset in range(0, size, part_size)]


def read_journal(path: Path) -> Journal | None:
    """The journal at ``path``, or ``None`` if there is none; a ``ValueError`` naming it if
    it cannot be read as one."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    try:
        return msgspec.json.decode(data, type=Journal)
    except msgspec.DecodeError as error:
        raise ValueError(f"{path} is not an upload journal ({error}): remove it") from None


def write_journal(path: Path, journal: Journal) -> None:
    """Write ``journal`` to ``path`` atomically (a temporary file renamed over it)."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_bytes(msgspec.json.encode(journal))
    temporary.replace(path)

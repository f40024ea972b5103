"""Checking data files: throughput and memory of ``check_data_file``.

    python benchmarks/datacheck.py           # 200 MB files, 5 runs each: about a minute
    python benchmarks/datacheck.py --quick   # 2 MB files, one run: a smoke test

Each file is written once to a temporary directory (so it is in the page cache), then read
by every reader in turn, round by round. Rows:

- **check_data_file**: the whole check, problems and summary included.
- **floor: read lines + msgspec decode**: the same reading loop (``readline`` with a cap) and
  decoder with no check at all: what the checks add on top is the difference.
- **naive: for line in file: json.loads(line)**: what a user writes without a checker
  (no line cap, so a huge line is held whole).

Columns: MB/s and examples/s as min / median over the runs; peak memory is the tracemalloc
peak of one more run of the check (Python allocations only). The last row is a file with one
50 MB line between two ordinary ones, checked with the default ``max_line_bytes`` (8 MiB).
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import msgspec

from nebius_ft_async import check_data_file

MiB = 1024 * 1024
CHAT = {
    "messages": [
        {"role": "system", "content": "You are a friendly dinner planner. " * 2},
        {"role": "user", "content": "What's for dinner tonight? I wouldn't mind Italian. " * 3},
        {"role": "assistant", "content": "Then let's try a new pasta with tomatoes. " * 12},
    ]
}
PRETOKENIZED = {"token_ids": list(range(1000, 1512)), "labels": [-100] * 256 + list(range(256))}


def write(path: Path, example: dict[str, object], size: int) -> int:
    line = msgspec.json.encode(example) + b"\n"
    count = max(1, size // len(line))
    with path.open("wb") as file:
        for _ in range(count):
            file.write(line)
    return count


def floor(path: Path) -> None:
    decode = msgspec.json.Decoder().decode
    with path.open("rb") as file:
        while line := file.readline(8 * MiB + 1):
            decode(line)


def naive(path: Path) -> None:
    with path.open("rb") as file:
        for line in file:
            json.loads(line)


def timed(read: Callable[[Path], object], path: Path) -> float:
    start = time.perf_counter()
    read(path)
    return time.perf_counter() - start


def peak_bytes(path: Path) -> int:
    tracemalloc.start()
    try:
        check_data_file(path)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 MB files, one run")
    args = parser.parse_args()
    size, runs = (2 * MiB, 1) if args.quick else (200 * MiB, 5)
    readers: dict[str, Callable[[Path], object]] = {
        "check_data_file": check_data_file,
        "floor: read lines + msgspec decode": floor,
        "naive: for line in file: json.loads(line)": naive,
    }
    print("| file | reader | MB/s | examples/s | peak memory |")
    print("|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as directory:
        for name, example in (("chat", CHAT), ("pretokenized", PRETOKENIZED)):
            path = Path(directory) / f"{name}.jsonl"
            examples = write(path, example, size)
            megabytes = path.stat().st_size / 1e6
            seconds: dict[str, list[float]] = {reader: [] for reader in readers}
            for _ in range(runs):
                for reader, read in readers.items():
                    seconds[reader].append(timed(read, path))
            label = f"{name}, {megabytes:,.0f} MB, {examples:,} examples"
            for reader, times in seconds.items():
                rates = [megabytes / t for t in times]
                per_second = [examples / t for t in times]
                memory = f"{peak_bytes(path) / MiB:.1f} MiB" if reader == "check_data_file" else "-"
                print(
                    f"| {label} | {reader} | {min(rates):,.0f} / {statistics.median(rates):,.0f}"
                    f" | {min(per_second):,.0f} / {statistics.median(per_second):,.0f}"
                    f" | {memory} |"
                )
        huge = Path(directory) / "huge.jsonl"
        with huge.open("wb") as file:
            file.write(b'{"text": "a"}\n{"text": "' + b"x" * (50 * MiB) + b'"}\n{"text": "b"}\n')
        print(f"| one 50 MB line | check_data_file | - | - | {peak_bytes(huge) / MiB:.1f} MiB |")


if __name__ == "__main__":
    main()

"""Smoke test for benchmarks/transfers.py: it runs at tiny sizes and prints a row per figure
with readable numbers. No timing is asserted."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "transfers.py"
FIGURE = r"\d+\.\d\d / \d+\.\d\d"


def test_quick_run_prints_every_figure() -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick"], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    rows = [
        line for line in done.stdout.splitlines() if line.startswith("| ") and "---" not in line
    ]
    labels = [
        "upload_dataset (4 MiB, parts of 1 MiB, 4 at once): throughput / one upload_file",
        "upload_dataset: client CPU efficiency / upload_file's (bytes per CPU second)",
        "upload_dataset: peak RSS growth, MiB",
        "upload_file: peak RSS growth, MiB",
        "download_file (4 MiB) through a storage redirect: throughput / direct",
        "download_file through a storage redirect: client CPU efficiency / direct",
    ]
    assert rows[0] == "| what | runs | min / median |"
    for row, label in zip(rows[1:], labels, strict=True):
        assert re.fullmatch(rf"\| {re.escape(label)} \| 1 \| {FIGURE} \|", row), row

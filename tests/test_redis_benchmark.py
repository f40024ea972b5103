"""Smoke test for benchmarks/replicas.py: it runs at tiny sizes and prints a readable row per
replica count. No timing is asserted."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "replicas.py"
ROW = re.compile(
    r"\| (\d) \| 20 \| \d+\.\d \| [\d,]+ \| (\d+)/20 \| (\d+) \| \d+\.\d\d s \| \d+\.\d\d s \|"
)


def test_tiny_run_prints_a_row_per_replica_count() -> None:
    command = [sys.executable, str(SCRIPT), "--jobs", "20", "--window", "1", "--cap", "30"]
    result = subprocess.run(
        [*command, "--replicas", "1", "2"], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    rows = [ROW.fullmatch(line) for line in result.stdout.splitlines() if line.startswith("| ")]
    found = [row.groups() for row in rows if row is not None]
    assert found == [("1", "20", "0"), ("2", "20", "0")]  # every job once, none twice

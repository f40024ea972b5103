"""Smoke test for benchmark 7 (benchmarks/rate_limited.py): it runs at tiny sizes and prints a
table whose every row and number can be read. No timing is asserted."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from benchmarks.rate_limited import BEST, BEST_AT_P, CLIENTS, best_possible

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "rate_limited.py"

SECONDS = r"(≥ )?\d+\.\d\d( / (≥ )?\d+\.\d\d)? s"
PATTERNS = [  # one per column after the label, in order
    r"\d+( \(simulated\)|, \d+ stopped by the [\d.]+ s cap)?"
    r"(; other processes up to \d+% of a core)?",  # runs
    r"[\d,]+",  # requests
    r"[\d,]+ / [\d,]+",  # 429s in the first 10 s / after
    r"\d+\.\d\d%|n/a \(no requests after 10 s\)",  # 429 share after 10 s
    r"[\d,]+/[\d,]+( \(\d+ errors\))?",  # notified
    SECONDS,  # latency mean
    SECONDS,  # latency p99
    r"(≥ )?\d+\.\dx( \((≥ )?\d+\.\dx at P\))?",  # p99 / best
    r"\d+\.\d( / \d+\.\d)? MiB|-",  # peak RSS growth
]


def test_quick_run_prints_every_row_with_readable_numbers() -> None:
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick"], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    rows = {}
    for line in result.stdout.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) == 11 and cells[0] == "30":
            rows[cells[1]] = cells[2:]
    assert set(rows) == {*CLIENTS.values(), BEST, BEST_AT_P}
    for label, values in rows.items():
        for pattern, value in zip(PATTERNS, values, strict=True):
            assert re.fullmatch(pattern, value), (label, pattern, value)
        notified, total = values[4].split(" ")[0].split("/")
        assert int(total) == 30 and 0 <= int(notified) <= 30, (label, values[4])


def test_best_possible_spends_the_bucket_on_pages() -> None:
    # 1,000 jobs already final: 10 pages, all sent at once from a bucket of 10
    latencies, requests = best_possible([0.0] * 1_000, rate=10, burst=10)
    assert requests == 10 and max(latencies) == 0
    # 200 jobs, one token at first then 10 a second: the second page goes 0.1 s later
    latencies, requests = best_possible([0.0] * 200, rate=10, burst=1)
    assert requests == 2 and sorted(set(latencies)) == [0.0, 0.1]
    # a job final at 0.25 s is seen by the first page sent after it, one sweep per 0.5 s
    latencies, requests = best_possible([0.25], rate=10, burst=1, min_sweep=0.5)
    assert requests == 2 and latencies == [0.25]

"""Smoke test: every benchmark still runs, at tiny sizes (no timing is asserted)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

RUN = Path(__file__).resolve().parent.parent / "benchmarks" / "run.py"


def test_benchmark_suite_runs_at_tiny_sizes() -> None:
    result = subprocess.run(
        [sys.executable, str(RUN), "--quick"], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    table = result.stdout
    for row in (
        "get_job, 200 requests at concurrency 100: floor",
        "get_job, 200 requests at concurrency 100: nebius_ft_async",
        "iterate 300 events (pages of 100): nebius_ft_async | 3 requests",
        "decode a full job: nebius_ft_async vs raw msgspec Struct",
        "decode a 100-checkpoint page",
        "watch 50 jobs (2 polls each), CPU per poll: nebius_ft_async",
        "watch 50 jobs (2 polls each), CPU per poll: floor",
        "50/50 succeeded",
        "rate limit",
        "import nebius_ft_async",
        "nebius-ft --help",
    ):
        assert row in table

"""Smoke test for benchmarks/instructions.py: each client it counts runs its requests against
the benchmark server (without valgrind, which only counts them). No figure is asserted."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"
MODES = ("floor get_job", "library get_job", "floor events page", "library events page")


def test_every_client_makes_its_requests() -> None:
    server = subprocess.Popen(
        [sys.executable, str(BENCHMARKS / "_server.py"), "--lifetime", "120"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert server.stdout is not None
    try:
        base_url = f"http://127.0.0.1:{server.stdout.readline().strip()}"
        for mode in MODES:
            done = subprocess.run(
                [
                    sys.executable,
                    str(BENCHMARKS / "instructions.py"),
                    "--client",
                    mode,
                    base_url,
                    "3",
                ],
                capture_output=True,
                text=True,
                timeout=120,
            )
            assert done.returncode == 0, done.stderr
        with urllib.request.urlopen(base_url + "/stats", timeout=30) as answer:
            assert json.loads(answer.read())["requests"] == 3 * len(MODES)
    finally:
        server.terminate()
        server.wait(timeout=10)
        server.stdout.close()

"""Instructions a request costs the client: the library against the floor, counted.

    python benchmarks/instructions.py               # 3 runs of 1,000 and 2,000 requests
    python benchmarks/instructions.py --runs 5 --requests 2000

CPU time on a shared machine moves by tens of percent between runs; instruction counts
repeat to about 1%. Each figure is valgrind's callgrind on one client process (the server,
``_server.py``, runs apart and is not counted): a run of N requests and one of 2N, whose
difference is what N requests cost with start-up, imports and the event loop's set-up
cancelled out. The floor is one bare aiohttp ``ClientSession`` and one cached msgspec
``Decoder`` (``_baselines``). Reported per request, min / median over the runs, with the
library's ratio to the floor of the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from benchmarks._baselines import floor_client, floor_get_job, floor_list_events  # noqa: E402
from benchmarks._callgrind import instructions  # noqa: E402
from nebius_ft_async import AsyncSession  # noqa: E402

MODES = ("floor get_job", "library get_job", "floor events page", "library events page")
"""What a client process does N times: ``get_job``, or read one page of 100 events."""


async def _client(mode: str, base_url: str, requests: int) -> None:
    if mode.startswith("floor"):
        async with floor_client() as client:
            for _ in range(requests):
                if mode == "floor get_job":
                    await floor_get_job(client, base_url, "ftjob-bench")
                else:
                    await floor_list_events(client, base_url, "ftjob-bench", None, 100)
        return
    async with AsyncSession("bench-key", base_url=base_url) as session:
        for _ in range(requests):
            if mode == "library get_job":
                await session.get_job("ftjob-bench")
            else:
                await session.list_events("ftjob-bench", limit=100)


def _instructions(mode: str, base_url: str, requests: int) -> int:
    return instructions([sys.executable, __file__, "--client", mode, base_url, str(requests)])


def _text(values: list[float], form: str = "{:,.0f}") -> str:
    return f"{form.format(min(values))} / {form.format(statistics.median(values))}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--requests", type=int, default=1000, help="N: runs of N and 2N")
    parser.add_argument("--client", nargs=3, metavar="ARG", help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.client:
        mode, base_url, requests = options.client
        asyncio.run(_client(mode, base_url, int(requests)))
        return
    server = subprocess.Popen(
        [sys.executable, str(HERE / "_server.py"), "--polls-to-finish", str(10**12)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert server.stdout is not None
    try:
        base_url = f"http://127.0.0.1:{server.stdout.readline().strip()}"
        n = options.requests
        per_request: dict[str, list[float]] = {mode: [] for mode in MODES}
        for _ in range(options.runs):
            for mode in MODES:
                cost = _instructions(mode, base_url, 2 * n) - _instructions(mode, base_url, n)
                per_request[mode].append(cost / n)
    finally:
        server.terminate()
        server.wait(timeout=10)
        server.stdout.close()
    print(f"| instructions a request (callgrind, {options.runs} runs) | min / median |")
    print("|---|---|")
    for mode in MODES:
        print(f"| {mode} | {_text(per_request[mode])} |")
    for what in ("get_job", "events page"):
        ratios = [
            library / floor
            for library, floor in zip(
                per_request[f"library {what}"], per_request[f"floor {what}"], strict=True
            )
        ]
        print(f"| library / floor, {what} | {_text(ratios, '{:.3f}')} |")
    print(f"(machine: {os.cpu_count()} cores)")


if __name__ == "__main__":
    main()

"""Many jobs: watch N jobs to completion with wait_for_jobs against a server in another process.

Run: python benchmarks/bench_many_jobs.py [--jobs 10000] [--poll-interval 1.0]

Reports peak RSS growth of the client while watching, total requests, spurious timeouts and
client CPU per poll. Target: 10,000 jobs with peak RSS growth under 50 MB, no timeouts.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import resource
import subprocess
import sys
import time
from pathlib import Path

import aiohttp

from nebius_ft_async import AsyncSession, FineTuningJob, WaitTimeout, wait_for_jobs

SERVER = Path(__file__).with_name("_server.py")


def rss_mib() -> float:
    with open("/proc/self/statm") as statm:
        pages = int(statm.read().split()[1])
    return pages * resource.getpagesize() / 2**20


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def start_server(polls_to_finish: int) -> tuple[subprocess.Popen[str], str]:
    server = subprocess.Popen(
        [sys.executable, str(SERVER), "--polls-to-finish", str(polls_to_finish), "--events", "10"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert server.stdout is not None
    port = server.stdout.readline().strip()
    return server, f"http://127.0.0.1:{port}"


async def watch(base_url: str, jobs: int, poll_interval: float, timeout: float) -> dict[str, float]:
    job_ids = [f"ftjob-{i:06d}" for i in range(jobs)]
    async with AsyncSession("bench-key", base_url=base_url) as session:
        gc.collect()
        baseline = rss_mib()
        started_cpu = time.process_time()
        started = time.perf_counter()
        results = await wait_for_jobs(
            session, job_ids, poll_interval=poll_interval, timeout=timeout
        )
        wall = time.perf_counter() - started
        cpu = time.process_time() - started_cpu
        requests = await server_requests(base_url)
    succeeded = sum(
        isinstance(r, FineTuningJob) and r.status == "succeeded" for r in results.values()
    )
    timeouts = sum(isinstance(r, WaitTimeout) for r in results.values())
    return {
        "baseline": baseline,
        "peak": peak_rss_mib(),
        "wall": wall,
        "cpu": cpu,
        "succeeded": succeeded,
        "timeouts": timeouts,
        "requests": requests,
    }


async def server_requests(base_url: str) -> int:

    async with aiohttp.ClientSession() as client, client.get(base_url + "/stats") as response:
        return int((await response.json())["requests"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--poll-interval", type=float, default=1.0)
    parser.add_argument("--polls-to-finish", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=300.0)
    args = parser.parse_args()
    server, base_url = start_server(args.polls_to_finish)
    try:
        result = asyncio.run(watch(base_url, args.jobs, args.poll_interval, args.timeout))
    finally:
        server.terminate()
        server.wait(timeout=10)
    polls = result["requests"]
    print(f"| {args.jobs} jobs watched to completion | value |")
    print("|---|---|")
    print(f"| succeeded / timed out | {result['succeeded']:.0f} / {result['timeouts']:.0f} |")
    print(f"| peak RSS growth | {result['peak'] - result['baseline']:.1f} MiB |")
    print(
        f"| requests seen by the server | {polls:.0f} (ideal {args.jobs * args.polls_to_finish}) |"
    )
    print(f"| wall time | {result['wall']:.1f} s |")
    print(f"| client CPU per poll | {result['cpu'] / polls * 1e6:.0f} µs |")


if __name__ == "__main__":
    main()

"""Benchmark: 1, 2 and 4 replicas sharing one API key through Redis, watching N jobs.

    python benchmarks/replicas.py                       # 10,000 jobs; a few minutes
    python benchmarks/replicas.py --jobs 40 --window 2 --cap 20 --replicas 1 2   # a smoke test

Needs the ``redis`` extra and ``redis-server`` (it starts its own, on a free loopback port,
without persistence). For each replica count it starts a fresh ``FakeTokenFactory(rate_limit=R,
rate_burst=B)`` in this process and that many replica processes (this file with
``--replica``), each an ``AsyncSession`` over one ``RedisBudget(rate=R)`` and a
``ReplicaMonitor(poll_interval=P)`` (fleet refresh on: each replica reads list pages for the
jobs it holds). Once every replica is live it scripts N jobs, job i final ``lead + U(0, W)``
seconds later (seeded, so every replica count sees the same finish times), registers them,
and reads the ``:finished`` stream until every job is in it or ``cap`` seconds have passed.

Columns: **requests/s**, everything the fake answered (429s included) over the watch divided
by its length; **429s** the fake's rate limiter answered; **notified** jobs in the stream by
the cap (each counted once; **duplicates** says how many were written twice); **latency** the
unix time this process read the entry minus the unix time the job became final on the fake,
mean and p99. Latencies are wall-clock on a machine whose cores this and the replicas share.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time

from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

from nebius_ft_async import AsyncSession
from nebius_ft_async.redis import RedisBudget, ReplicaMonitor, read_finished, register_jobs
from nebius_ft_async.testing import FakeTokenFactory

RATE = 100.0
BURST = 10
POLL_INTERVAL = 1.0
LEASE = 10.0
LEAD = 2.0


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _start_redis(directory: str) -> tuple[subprocess.Popen[bytes], str]:
    binary = shutil.which("redis-server")
    if binary is None:
        sys.exit("redis-server is not installed (Debian package redis-server)")
    port = _free_port()
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir", directory],
        stdout=subprocess.DEVNULL,
    )
    return process, f"redis://127.0.0.1:{port}/0"


async def _replica(redis_url: str, base_url: str, api_key: str, name: str) -> None:
    redis = Redis.from_url(redis_url)
    budget = RedisBudget(redis, name=name, rate=RATE)
    async with (
        AsyncSession(api_key, base_url=base_url, budget=budget) as session,
        ReplicaMonitor(session, redis, name=name, lease=LEASE, poll_interval=POLL_INTERVAL),
    ):
        await asyncio.Event().wait()


def _spawn(count: int, args: list[str]) -> list[subprocess.Popen[bytes]]:
    return [subprocess.Popen([sys.executable, __file__, "--replica", *args]) for _ in range(count)]


def _stop(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        process.kill()
        process.wait()


async def _run(redis_url: str, replicas: int, jobs: int, window: float, cap: float) -> str:
    redis = Redis.from_url(redis_url)
    await redis.flushall()
    name = f"bench-{replicas}"
    async with FakeTokenFactory(rate_limit=RATE, rate_burst=BURST) as fake:
        args = [redis_url, fake.url, fake.api_key, name]
        processes = _spawn(replicas, args)
        try:
            while await redis.zcard(f"nebius-ft:{{{name}}}:replicas") < replicas:  # noqa: ASYNC110
                await asyncio.sleep(0.1)
            finishes = random.Random(0)
            ids = fake.add_jobs(jobs, finish_after=lambda _: LEAD + finishes.uniform(0, window))
            await register_jobs(redis, ids, name=name)
            started, requests_before = time.monotonic(), sum(fake.requests.values())
            latencies: dict[str, float] = {}
            duplicates = 0
            reader = read_finished(redis, name=name, group="bench", block=0.2)
            try:
                async with asyncio.timeout(cap):
                    async for entry in reader:
                        if entry.job_id in latencies:
                            duplicates += 1
                            continue
                        final_at = fake.jobs[entry.job_id].final_at or time.monotonic()
                        latencies[entry.job_id] = time.monotonic() - final_at
                        if len(latencies) == jobs:
                            break
            except TimeoutError:
                pass
            elapsed = time.monotonic() - started
            requests = sum(fake.requests.values()) - requests_before
        finally:
            _stop(processes)
    await redis.aclose()
    ordered = sorted(latencies.values())
    mean = sum(ordered) / len(ordered) if ordered else float("nan")
    p99 = ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))] if ordered else float("nan")
    return (
        f"| {replicas} | {jobs:,} | {requests / elapsed:.1f} | {fake.rate_limited:,} | "
        f"{len(latencies):,}/{jobs:,} | {duplicates} | {mean:.2f} s | {p99:.2f} s |"
    )


async def _main(options: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as directory:
        server, redis_url = _start_redis(directory)
        try:
            probe = Redis.from_url(redis_url)
            for _ in range(100):
                try:
                    await probe.ping()
                    break
                except RedisConnectionError:
                    await asyncio.sleep(0.05)
            await probe.aclose()
            print(
                f"rate limit {RATE:g} requests/s (burst {BURST}), poll interval "
                f"{POLL_INTERVAL:g} s, jobs final {LEAD:g} + U(0, {options.window:g}) s "
                f"after they are scripted, cap {options.cap:g} s"
            )
            print(
                "| replicas | jobs | requests/s | 429s | notified | duplicates "
                "| latency mean | latency p99 |"
            )
            print("| --- | --- | --- | --- | --- | --- | --- | --- |")
            for replicas in options.replicas:
                row = await _run(redis_url, replicas, options.jobs, options.window, options.cap)
                print(row, flush=True)
        finally:
            server.kill()
            server.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--replicas", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--window", type=float, default=12.0, help="jobs end over W seconds")
    parser.add_argument("--cap", type=float, default=60.0, help="longest watch, seconds")
    parser.add_argument("--replica", nargs=4, metavar="ARG", help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.replica:
        asyncio.run(_replica(*options.replica))
    else:
        asyncio.run(_main(options))


if __name__ == "__main__":
    main()

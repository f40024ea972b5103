"""A rate-limited fake Token Factory in its own process, for ``rate_limited.py``.

It runs ``nebius_ft_async.testing.FakeTokenFactory(rate_limit=R, rate_burst=B)`` on
127.0.0.1 and talks to the benchmark over its stdin and stdout, one JSON object a line:

1. once listening it prints ``{"url": ..., "api_key": ...}``;
2. on ``start`` it scripts ``--jobs`` jobs with ``add_jobs``, job ``i`` final exactly
   ``lead + U(0, window)`` seconds later (seeded, so every client sees the same schedule),
   and prints ``{"started": <unix time>}``;
3. on ``stop`` (or when stdin closes) it prints ``{"requests", "job_gets", "list_pages",
   "rate_limited", "timeline", "finals"}`` and exits: ``finals[i]`` is the unix time at which
   job ``ftjob-{i + 1:06d}`` became final (from ``FakeJob.final_at``, which is monotonic, moved
   onto the wall clock), ``timeline`` the ``[unix time, requests, 429s]`` counters sampled every
   50 ms from ``start``.

Counts are the fake's own: ``fake.requests`` (every request it answered, 429s included) and
``fake.rate_limited`` (429s from its token bucket). It exits by itself after ``--lifetime``
seconds, so a benchmark that died cannot leave it behind. Once the jobs are scripted it makes
no more full garbage collections (young ones go on): the events and checkpoints it records for
100,000 jobs made them stop it for up to 0.7 s at a time, and a real Token Factory does not
stall like that; what is measured is the client.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from nebius_ft_async.testing import FakeTokenFactory

SAMPLE_EVERY = 0.05
"""Seconds between two samples of the request counters."""
LIST_PATH = "/v1/fine_tuning/jobs"
NO_FULL_COLLECTIONS = 10**9
"""A third-generation threshold that a benchmark run never reaches."""


def finish_times(jobs: int, window: float, lead: float, seed: int) -> list[float]:
    """Seconds from ``add_jobs`` until each job is final: ``lead`` plus uniform in the window."""
    rng = random.Random(seed)
    return [lead + rng.uniform(0.0, window) for _ in range(jobs)]


def emit(message: dict[str, object]) -> None:
    sys.stdout.write(json.dumps(message, separators=(",", ":")) + "\n")
    sys.stdout.flush()


class Sampler:
    """The fake's request and 429 counters over time."""

    def __init__(self, fake: FakeTokenFactory) -> None:
        self.fake = fake
        self.timeline: list[tuple[float, int, int]] = []

    def sample(self) -> None:
        fake = self.fake
        self.timeline.append((time.time(), sum(fake.requests.values()), fake.rate_limited))

    async def run(self) -> None:
        while True:
            self.sample()
            await asyncio.sleep(SAMPLE_EVERY)


async def serve(args: argparse.Namespace) -> None:
    loop = asyncio.get_running_loop()
    commands = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(commands), sys.stdin)
    fake = FakeTokenFactory(rate_limit=args.rate, rate_burst=args.burst)
    sampler = Sampler(fake)
    sampling: asyncio.Task[None] | None = None
    ids: list[str] = []
    async with fake:
        emit({"url": fake.url, "api_key": fake.api_key})
        while True:
            command = (await commands.readline()).decode().strip()
            if command == "start" and not ids:
                finishes = finish_times(args.jobs, args.window, args.lead, args.seed)
                ids = fake.add_jobs(args.jobs, finish_after=finishes)
                # no full collections from here on (young ones go on): over the jobs, their
                # events and checkpoints they pause this server for up to 0.7 s at 100k jobs,
                # which is the fake's cost, not the client's
                gc.freeze()
                young, middle, _ = gc.get_threshold()
                gc.set_threshold(young, middle, NO_FULL_COLLECTIONS)
                expected = [f"ftjob-{number:06d}" for number in range(1, args.jobs + 1)]
                if ids != expected:
                    raise RuntimeError("the fake named its jobs unlike ftjob-000001, ...")
                sampling = asyncio.create_task(sampler.run())
                emit({"started": time.time()})
            elif command in ("stop", ""):  # "" when stdin closed: the benchmark is gone
                break
        if sampling is not None:
            sampling.cancel()
        sampler.sample()
        # FakeJob.final_at is time.monotonic(); both clocks are read together to convert
        offset = time.time() - time.monotonic()
        finals = [fake.jobs[job_id].final_at for job_id in ids]
        total = sum(fake.requests.values())
        lists = fake.requests.get(LIST_PATH, 0)
        emit(
            {
                "requests": total,
                "list_pages": lists,
                "job_gets": total - lists,
                "rate_limited": fake.rate_limited,
                "timeline": sampler.timeline,
                "finals": [None if final is None else final + offset for final in finals],
            }
        )


async def serve_for(args: argparse.Namespace) -> None:
    try:
        async with asyncio.timeout(args.lifetime):
            await serve(args)
    except TimeoutError:
        print(f"_limited_server: stopped after {args.lifetime:g} s", file=sys.stderr)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, required=True)
    parser.add_argument("--window", type=float, required=True, help="finish window W, seconds")
    parser.add_argument("--lead", type=float, default=0.0, help="seconds before the window")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rate", type=float, required=True, help="requests per second R")
    parser.add_argument("--burst", type=int, required=True, help="token bucket size")
    parser.add_argument("--lifetime", type=float, default=900.0)
    asyncio.run(serve_for(parser.parse_args()))


if __name__ == "__main__":
    main()

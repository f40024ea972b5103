"""Run every benchmark in one go and write the table to benchmarks/results.md.

    pip install -e '.[bench]'
    python benchmarks/run.py            # about 20 minutes on 2 cores
    python benchmarks/run.py --quick    # tiny sizes: checks that everything still runs

All numbers are ratios against baselines measured in the same run, against a local aiohttp
server started in another process on 127.0.0.1 (see _server.py). Client CPU time is
``time.process_time()`` in this process; the server's CPU is not counted. Each figure is the
min / median of several rounds. openai-python rows are skipped when openai is not installed.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
import timeit
from collections.abc import Awaitable, Callable
from datetime import date
from functools import partial
from pathlib import Path
from typing import Any

import aiohttp
import msgspec

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import nebius_ft_async  # noqa: E402
from benchmarks import _baselines as baselines  # noqa: E402
from benchmarks.rate_limited import bench_rate_limited  # noqa: E402
from nebius_ft_async import AsyncSession, FineTuningJob, as_completed  # noqa: E402
from nebius_ft_async._models import checkpoint_page_decoder, job_decoder  # noqa: E402
from tests.samples import checkpoint_body, job_body  # noqa: E402

try:
    import openai
except ImportError:  # the bench extra is not installed
    openai = None  # type: ignore[assignment]
try:
    from benchmarks._tracing import traced_session
except ImportError:  # the bench extra (opentelemetry-sdk) is not installed
    traced_session = None  # type: ignore[assignment]

Row = tuple[str, str, str]
Call = Callable[[int], Awaitable[object]]


def median(values: list[float]) -> float:
    return statistics.median(values)


def ratios(values: list[float], baseline: list[float]) -> list[float]:
    """Each round's value over the same round's baseline (rounds are interleaved)."""
    return [value / base for value, base in zip(values, baseline, strict=True)]


def spread(values: list[float], form: str) -> str:
    """``min / median`` of several runs (one run: that value, said to be one run)."""
    if len(values) == 1:
        return form.format(values[0]) + " (1 run)"
    return f"{form.format(min(values))} / {form.format(median(values))}"


class Server:
    """The benchmark API in its own process."""

    def __init__(self, polls_to_finish: int, events: int) -> None:
        self.process = subprocess.Popen(
            [
                sys.executable,
                str(HERE / "_server.py"),
                "--polls-to-finish",
                str(polls_to_finish),
                "--events",
                str(events),
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        self.url = f"http://127.0.0.1:{self.process.stdout.readline().strip()}"

    async def requests_seen(self) -> int:
        async with aiohttp.ClientSession() as client, client.get(self.url + "/stats") as response:
            return int((await response.json())["requests"])

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


async def measure(call: Call, total: int, concurrency: int) -> tuple[float, float]:
    """Run ``call`` ``total`` times from ``concurrency`` workers: CPU s per op, ops per s."""

    async def worker(first: int) -> None:
        for index in range(first, total, concurrency):
            await call(index)

    await asyncio.gather(*(worker(i) for i in range(min(concurrency, 100))))  # warm the pool
    gc.collect()
    cpu, wall = time.process_time(), time.perf_counter()
    await asyncio.gather(*(worker(i) for i in range(concurrency)))
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    return cpu / total, total / wall


# -- 1. get_job at concurrency 100 ---------------------------------------------------------


async def get_job_round(url: str, client_name: str, total: int) -> tuple[float, float]:
    ids = [f"ftjob-bench-{i % 100}" for i in range(total)]
    if client_name == "nebius_ft_async":
        async with AsyncSession("bench-key", base_url=url) as session:
            return await measure(lambda i: session.get_job(ids[i]), total, 100)
    if client_name == "floor":
        async with baselines.floor_client() as client:
            return await measure(lambda i: baselines.floor_get_job(client, url, ids[i]), total, 100)
    if client_name == TRACED:
        assert traced_session is not None
        async with traced_session(url) as session:
            return await measure(lambda i: session.get_job(ids[i]), total, 100)
    assert openai is not None
    async with openai.AsyncOpenAI(api_key="bench-key", base_url=url + "/v1", max_retries=0) as oa:
        return await measure(lambda i: oa.fine_tuning.jobs.retrieve(ids[i]), total, 100)


TRACED = "nebius_ft_async with otel_hooks()"


OPENAI_SHARE = 4
"""openai-python makes a quarter of the requests in CPU rows: it costs over ten times more per
request, so its figures are steady at a quarter of the work."""


def bench_get_job(url: str, total: int, rounds: int) -> list[Row]:
    clients = ["floor", "nebius_ft_async"] + (["openai-python"] if openai else [])
    clients += [TRACED] if traced_session is not None else []
    requests = {
        name: total // OPENAI_SHARE if name == "openai-python" else total for name in clients
    }
    cpu: dict[str, list[float]] = {name: [] for name in clients}
    rate: dict[str, list[float]] = {name: [] for name in clients}
    for _ in range(rounds):
        for name in clients:  # interleaved, so drift hits every client alike
            per_op, per_s = asyncio.run(get_job_round(url, name, requests[name]))
            cpu[name].append(per_op)
            rate[name].append(per_s)
    rows = [
        (
            f"get_job, {requests[name]} requests at concurrency 100: {name}",
            f"{spread([c * 1e6 for c in cpu[name]], '{:.0f}')} µs CPU/op, "
            f"{median(rate[name]):.0f} req/s",
            f"{spread(ratios(cpu[name], cpu['floor']), '{:.2f}')}x floor",
        )
        for name in clients
    ]
    if traced_session is not None:
        rows.append(
            (
                "get_job: CPU per op with otel_hooks() / without",
                "",
                f"{spread(ratios(cpu[TRACED], cpu['nebius_ft_async']), '{:.2f}')}x",
            )
        )
    if openai:
        rows.append(
            (
                "get_job: openai-python CPU per op / nebius_ft_async",
                "",
                f"{spread(ratios(cpu['openai-python'], cpu['nebius_ft_async']), '{:.1f}')}x",
            )
        )
    return rows


# -- 2. decoding alone ---------------------------------------------------------------------


def per_call(
    decode: Callable[[bytes], object], body: bytes, number: int, rounds: int
) -> list[float]:
    """Seconds per ``decode(body)``, one figure per round."""
    return [t / number for t in timeit.repeat(partial(decode, body), number=number, repeat=rounds)]


def bench_decode(number: int, rounds: int) -> list[Row]:
    job = msgspec.json.encode(job_body())
    page = msgspec.json.encode(
        {"object": "list", "data": [checkpoint_body(i) for i in range(100)], "has_more": False}
    )
    cases: list[tuple[str, bytes, Callable[[bytes], object], Callable[[bytes], object], Any]] = [
        ("a full job", job, job_decoder.decode, baselines.raw_job_decoder.decode, None),
        (
            "a 100-checkpoint page",
            page,
            checkpoint_page_decoder.decode,
            baselines.raw_checkpoint_page_decoder.decode,
            None,
        ),
    ]
    if openai:
        from openai._models import construct_type
        from openai.pagination import AsyncCursorPage
        from openai.types.fine_tuning import FineTuningJob as OpenAIJob
        from openai.types.fine_tuning.jobs import FineTuningJobCheckpoint as OpenAICheckpoint

        # what openai-python does with a body: json.loads, then construct_type (its models
        # reject Nebius bodies under strict validation: mlflow/hf integrations are not OpenAI's)
        cases[0] = (*cases[0][:4], lambda b: construct_type(type_=OpenAIJob, value=json.loads(b)))
        page_type = AsyncCursorPage[OpenAICheckpoint]
        cases[1] = (*cases[1][:4], lambda b: construct_type(type_=page_type, value=json.loads(b)))
    rows: list[Row] = []
    for label, body, ours, raw, theirs in cases:
        scale = 1 if label == "a full job" else 20
        ours_s = per_call(ours, body, number // scale, rounds)
        raw_s = per_call(raw, body, number // scale, rounds)
        rows.append(
            (
                f"decode {label}: nebius_ft_async vs raw msgspec Struct",
                f"{median(ours_s) * 1e6:.1f} µs vs {median(raw_s) * 1e6:.1f} µs",
                f"{spread(ratios(ours_s, raw_s), '{:.2f}')}x raw",
            )
        )
        if theirs is not None:
            theirs_s = per_call(theirs, body, max(number // scale // 20, 10), rounds)
            rows.append(
                (
                    f"decode {label}: openai-python's own parse path "
                    "(json.loads + construct_type, not pydantic's validate_json)",
                    f"{median(theirs_s) * 1e6:.1f} µs",
                    f"{spread(ratios(theirs_s, ours_s), '{:.0f}')}x nebius_ft_async",
                )
            )
    return rows


# -- 3. paging -----------------------------------------------------------------------------


async def paging_round(server: Server, floor: bool) -> tuple[float, float, int]:
    before = await server.requests_seen()
    count = 0
    cpu, wall = time.process_time(), time.perf_counter()
    if floor:
        async with baselines.floor_client() as client:
            after: str | None = None
            while True:
                page = await baselines.floor_list_events(client, server.url, "j", after, 100)
                count += len(page.data)
                if not page.has_more or not page.data:
                    break
                after = page.data[-1].id
    else:
        async with AsyncSession("bench-key", base_url=server.url) as session:
            async for _ in session.iter_events("j", page_size=100):
                count += 1
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    requests = await server.requests_seen() - before
    return cpu, count / wall, requests


def bench_paging(server: Server, rounds: int, events: int) -> list[Row]:
    results: dict[str, list[tuple[float, float, int]]] = {"floor": [], "nebius_ft_async": []}
    for _ in range(rounds):
        for name in results:
            results[name].append(asyncio.run(paging_round(server, name == "floor")))
    floor_cpu = [r[0] for r in results["floor"]]
    rows = []
    for name, runs in results.items():
        rows.append(
            (
                f"iterate {events} events (pages of 100): {name}",
                f"{runs[-1][2]} requests, {median([r[1] for r in runs]):.0f} items/s",
                f"{spread(ratios([r[0] for r in runs], floor_cpu), '{:.2f}')}x floor CPU",
            )
        )
    return rows


# -- 4. many jobs --------------------------------------------------------------------------


def rss_mib() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize() / 2**20


MANY_JOBS_CLIENTS = ("nebius_ft_async", "floor", "openai-python")
POLLS_PER_JOB = 2
"""Each job of the many-jobs benchmark is final at its second poll."""
MANY_JOBS_CONCURRENCY = 32
MANY_JOBS_MIN_POLLS = 20_000
"""A run watches its jobs again (with new ids) until it has made this many polls, so that
a fixed cost or one collection of the cycle collector does not decide a small run's figure;
openai-python's runs make a quarter of them (``OPENAI_SHARE``)."""


def many_jobs_repeats(size: int, client: str, quick: bool) -> int:
    """How many times a run watches its ``size`` jobs (once in a quick run)."""
    if quick:
        return 1
    polls = MANY_JOBS_MIN_POLLS // (OPENAI_SHARE if client == "openai-python" else 1)
    return max(1, -(-polls // (size * POLLS_PER_JOB)))


async def naive_poll_loop(
    ids: list[str], interval: float, get: Callable[[str], Awaitable[str]]
) -> int:
    """What a user writes without a monitor: one task per job polling until it is final,
    ``MANY_JOBS_CONCURRENCY`` requests in flight; ``get`` returns the job's status."""
    limit = asyncio.Semaphore(MANY_JOBS_CONCURRENCY)

    async def watch(job_id: str) -> bool:
        while True:
            async with limit:
                status = await get(job_id)
            if status == "succeeded":
                return True
            await asyncio.sleep(interval)

    return sum(await asyncio.gather(*(watch(job_id) for job_id in ids)))


async def many_jobs_round(url: str, client: str, ids: list[str], interval: float) -> int:
    """Watch every job to completion with ``client``; returns how many succeeded.

    Each client counts the outcomes as they come and keeps none of them, as the naive loop
    does (``wait_for_jobs`` would keep every final job: 100,000 of them are most of a
    process's memory, whoever polled them)."""
    if client == "nebius_ft_async":
        succeeded = 0
        async with AsyncSession("bench-key", base_url=url) as session:
            outcomes = as_completed(
                session, ids, poll_interval=interval, timeout=3600, fleet_refresh=False
            )
            async for outcome in outcomes:
                succeeded += isinstance(outcome, FineTuningJob) and outcome.status == "succeeded"
        return succeeded
    if client == "floor":
        async with baselines.floor_client() as bare:

            async def get(job_id: str) -> str:
                return (await baselines.floor_get_job(bare, url, job_id)).status

            return await naive_poll_loop(ids, interval, get)
    assert openai is not None
    async with openai.AsyncOpenAI(api_key="bench-key", base_url=url + "/v1", max_retries=0) as oa:

        async def retrieve(job_id: str) -> str:
            return str((await oa.fine_tuning.jobs.retrieve(job_id)).status)

        return await naive_poll_loop(ids, interval, retrieve)


def many_jobs_child(
    url: str, client: str, jobs: int, prefix: str, interval: float, repeats: int
) -> None:
    """One measured run in a process of its own, so its peak RSS is its own."""

    async def run() -> dict[str, float]:
        async with aiohttp.ClientSession() as stats:

            async def requests_seen() -> int:
                async with stats.get(url + "/stats") as response:
                    return int((await response.json())["requests"])

            gc.collect()
            baseline = rss_mib()
            before = await requests_seen()
            cpu = time.process_time()
            succeeded = jobs  # the fewest of any repeat
            for repeat in range(repeats):
                ids = [f"ftjob-{prefix}-{repeat}-{i:06d}" for i in range(jobs)]
                succeeded = min(succeeded, await many_jobs_round(url, client, ids, interval))
            cpu = time.process_time() - cpu
            requests = await requests_seen() - before
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        return {
            "cpu_per_poll": cpu / requests,
            "growth": peak - baseline,
            "requests": requests,
            "succeeded": succeeded,
        }

    print(json.dumps(asyncio.run(run())))


def many_jobs_runs(size: int, client: str, quick: bool) -> int:
    """Three runs of each, except openai-python at 100k jobs (about 1.4 ms of CPU a poll, so
    some 5 minutes a run): not run, its time is estimated instead."""
    if quick:
        return 1
    return 0 if client == "openai-python" and size > 10_000 else 3


def bench_many_jobs(sizes: tuple[int, ...], interval: float, quick: bool) -> list[Row]:
    clients = [c for c in MANY_JOBS_CLIENTS if c != "openai-python" or openai]
    server = Server(polls_to_finish=POLLS_PER_JOB, events=10)
    rows: list[Row] = []
    try:
        for size in sizes:
            runs: dict[str, list[dict[str, float]]] = {client: [] for client in clients}
            for index in range(max(many_jobs_runs(size, c, quick) for c in clients)):
                for client in clients:  # interleaved, so drift hits every client alike
                    if index >= many_jobs_runs(size, client, quick):
                        continue
                    output = subprocess.run(
                        [
                            sys.executable,
                            __file__,
                            "--many-jobs-child",
                            server.url,
                            client,
                            str(size),
                            f"{client}-{index}",
                            str(interval),
                            str(many_jobs_repeats(size, client, quick)),
                        ],
                        capture_output=True,
                        text=True,
                        check=True,
                    ).stdout
                    runs[client].append(json.loads(output.splitlines()[-1]))
            rows += many_jobs_rows(size, runs, quick)
    finally:
        server.stop()
    return rows


def many_jobs_rows(size: int, runs: dict[str, list[dict[str, float]]], quick: bool) -> list[Row]:
    floor = [run["cpu_per_poll"] for run in runs["floor"]]
    rows: list[Row] = []
    for client, results in runs.items():
        repeats = many_jobs_repeats(size, client, quick)
        label = (
            f"watch {size} jobs ({POLLS_PER_JOB} polls each"
            + (f", {repeats} times a run" if repeats > 1 else "")
            + f"), CPU per poll: {client}"
        )
        if not results:
            estimate = size * POLLS_PER_JOB * 0.0014
            rows.append((label, f"not run (would take about {estimate:.0f} s of CPU)", ""))
            continue
        cpu = [run["cpu_per_poll"] for run in results]
        done = f"{min(r['succeeded'] for r in results):.0f}/{size} succeeded"
        growth = max(run["growth"] for run in results)
        measured = (
            f"{spread([c * 1e6 for c in cpu], '{:.0f}')} µs, {done}, "
            f"peak RSS growth {growth:.0f} MiB"
        )
        ratios = [c / f for c, f in zip(cpu, floor, strict=False)]
        rows.append((label, measured, f"{spread(ratios, '{:.2f}')}x the naive loop"))
    return rows


# -- 5. start-up ---------------------------------------------------------------------------


def import_seconds(modules: dict[str, str], rounds: int) -> dict[str, float]:
    """Time to import each module list in a fresh interpreter, interleaved round by round.

    Timed inside the child, so interpreter start-up and exit stay out; the minimum over the
    rounds is reported, as ``timeit`` advises: import is fixed work, and everything else on
    the machine only ever adds to it.
    """
    times: dict[str, list[float]] = {name: [] for name in modules}
    for _ in range(rounds):
        for name, imports in modules.items():
            code = (
                "import time; started = time.perf_counter(); "
                f"import {imports}; print(time.perf_counter() - started)"
            )
            output = subprocess.run(
                [sys.executable, "-c", code], check=True, capture_output=True, text=True
            ).stdout
            times[name].append(float(output))
    return {name: min(values) for name, values in times.items()}


def command_seconds(command: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    return time.perf_counter() - started


def bench_startup(rounds: int) -> list[Row]:
    # as installed from a wheel: bytecode compiled (pip does this for every dependency)
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", nebius_ft_async.__path__[0]], check=True
    )
    modules = {"deps": "aiohttp, msgspec, anyio, backoff", "ours": "nebius_ft_async"}
    if openai:
        modules["openai"] = "openai"
    seconds = import_seconds(modules, rounds)
    deps, ours = seconds["deps"], seconds["ours"]
    help_wall = median(
        [
            command_seconds([sys.executable, "-m", "nebius_ft_async", "--help"])
            for _ in range(rounds)
        ]
    )
    rows = [
        ("import aiohttp, msgspec, anyio, backoff", f"{deps * 1000:.0f} ms", "baseline"),
        ("import nebius_ft_async", f"{ours * 1000:.0f} ms", f"{ours / deps:.2f}x its deps"),
        ("nebius-ft --help (whole process)", f"{help_wall * 1000:.0f} ms", ""),
    ]
    if openai:
        theirs = seconds["openai"]
        rows.append(("import openai", f"{theirs * 1000:.0f} ms", f"{theirs / ours:.1f}x ours"))
    return rows


# -- the table -----------------------------------------------------------------------------


def table(rows: list[Row]) -> str:
    lines = ["| benchmark | measured | ratio |", "|---|---|---|"]
    lines += [f"| {name} | {value} | {ratio} |" for name, value, ratio in rows]
    return "\n".join(lines)


def header() -> str:
    versions = [f"nebius_ft_async {nebius_ft_async.__version__}", f"aiohttp {aiohttp.__version__}"]
    versions.append(f"msgspec {msgspec.__version__}")
    if openai:
        versions.append(f"openai {openai.__version__}")
    return (
        f"Run on {date.today().isoformat()}, Python {platform.python_version()}, "
        f"{os.cpu_count()} cores ({platform.machine()}), " + ", ".join(versions) + "."
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="tiny sizes, do not write results")
    parser.add_argument("--many-jobs-child", nargs=6, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.many_jobs_child:
        url, client, jobs, prefix, interval, repeats = args.many_jobs_child
        many_jobs_child(url, client, int(jobs), prefix, float(interval), int(repeats))
        return
    quick = args.quick
    rounds = 3 if quick else 7
    events = 300 if quick else 10_000
    server = Server(polls_to_finish=1_000_000, events=events)
    try:
        rows = bench_get_job(server.url, 200 if quick else 20_000, rounds)
        rows += bench_paging(server, rounds, events)
    finally:
        server.stop()
    rows += bench_decode(200 if quick else 20_000, rounds)
    rows += bench_many_jobs((50,) if quick else (1_000, 10_000, 100_000), 0.05, quick)
    rows += bench_rate_limited(quick)
    rows += bench_startup(1 if quick else 15)
    text = f"{header()}\n\n{table(rows)}\n"
    print(text)
    if not quick:
        (HERE / "results.md").write_text(
            "# Benchmark results\n\nWritten by `python benchmarks/run.py`. " + text
        )


if __name__ == "__main__":
    main()

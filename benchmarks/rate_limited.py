"""Benchmark 7: watching 1k, 10k and 100k jobs against a rate-limited server.

    python benchmarks/rate_limited.py             # about 8 1/2 minutes on 2 cores
    python benchmarks/rate_limited.py --quick     # 30 jobs, one run each: a smoke test
    python benchmarks/rate_limited.py --details   # and per run, on stderr: requests and 429s
                                                  # per second, the budget's pace, other load

The server is ``FakeTokenFactory(rate_limit=R, rate_burst=B)`` (``_limited_server.py``) in a
process of its own on 127.0.0.1, fresh for every run. Once the client is ready it scripts N
jobs, job i final exactly ``lead + U(0, W)`` seconds later (seeded by the run number, so every
client of run k sees the same finish times; ``lead`` covers the time ``add_jobs`` takes, so no
job is final before the client starts). Each client runs in a fresh child process with one
``AsyncSession`` (so one ``AdaptiveBudget``, the default) and ``poll_interval=P``, until every
job is notified or ``cap`` seconds have passed. What each row measures:

- **fleet refresh**: ``as_completed(session, ids, poll_interval=P)``, the ``JobMonitor`` that
  ``wait_for_jobs`` runs (``wait_for_jobs`` only returns once every job is done, so its own
  iterator is timed); with 10 or more jobs it reads ``GET /v1/fine_tuning/jobs`` pages of 100.
- **per-job polling**: the same with ``fleet_refresh=False``: one ``GET`` per job and poll.
- **naive gather**: ``asyncio.gather(*(wait_for_job(session, id, poll_interval=P) ...))``,
  each task timestamped by a done callback.
- **best possible for the budget**: not a client but a simulation, for every run, with that
  run's finish times counted from its client's start (the row shows the fleet runs'): a client
  that knows the list order and spends every token of the server's bucket (B at first, then R a
  second, never a 429) on list pages of 100 jobs, each page starting at the first job it has
  not yet seen final, sweeping the list again and again; a page answers at the instant it is
  sent (no round trip, no CPU time), and a job is notified by the first page sent at or after
  it became final. It does not use the jobs' estimated finish times. Roughly: with k pages
  still holding a running job, a sweep takes k / R seconds, so latency averages half a sweep
  and its p99 is about one sweep.
- **best possible, one sweep per poll interval**: the same, but a sweep starts at most once
  per P seconds, as the monitor's walks do: what the poll interval alone costs.

The settings (``FULL``): R = 100 requests/s; B = 10, a tenth of a second of budget, so any
burst above R is answered 429 at once (the harsher test of the 429 target) while the bound
barely depends on it; P = 1 s, the shortest poll interval allowed against a remote API;
W = 12 s; cap 27 s, which per-job polling and the naive gather cannot beat at 10k and 100k
jobs (a sweep of 10,000 GETs takes 100 s at R), so those rows are partial and marked so.

Columns: **requests** the server answered (429s included) and how many were 429s, in the first
10 s of the client's watch and after; **429 % after 10 s** is the worst run's share of 429s
among the requests after its first 10 s; **notified** how many jobs the client reported final
before the cap; **latency** is unix time when the client got the outcome minus unix time the
job became final on the server (``FakeJob.final_at``); a job not notified by the cap counts
with ``end of the watch - final``, a lower bound, and such figures are marked ``≥``; **p99 /
best** is each run's p99 over the best possible p99 for that run's finish times; **peak RSS
growth** is the client process's ``ru_maxrss`` after watching minus its RSS just before (ids
and result array already built). Latency and RSS are min / median over the runs, counts the
median.

Latencies are wall-clock, so other work on the machine inflates them: each run measures the
CPU time other processes used meanwhile (``/proc/stat`` minus this benchmark's own processes),
the header gives the median and the most, and a row whose runs had other processes using a
quarter of a core or more says so.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import math
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from array import array
from collections.abc import AsyncGenerator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import IO, Any, cast

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import nebius_ft_async  # noqa: E402
from nebius_ft_async import (  # noqa: E402
    AsyncSession,
    FineTuningJob,
    JobWaitError,
    as_completed,
    wait_for_job,
)

Row = tuple[str, str, str]

SERVER = HERE / "_limited_server.py"
PAGE = 100
"""Jobs on a list page (what the monitor asks for and the fake's cap)."""
BUSY = 0.25
"""Runs during which other processes kept this much of a core busy are flagged in the table."""
GRACE = 10.0
"""429s are reported separately for the first seconds of a watch, while the budget learns."""


@dataclass(frozen=True)
class Settings:
    rate: float  # R: requests a second the server grants
    burst: int  # B: its token bucket
    interval: float  # P: poll_interval of every client
    window: float  # W: jobs become final uniformly over this many seconds
    cap: float  # a run stops this many seconds after the client started
    runs: dict[int, int]  # jobs -> runs of each client
    capped_runs: dict[int, int]  # fewer runs of per-job and naive, where the cap stops them

    def lead(self, jobs: int) -> float:
        """Seconds from ``add_jobs`` to the finish window: covers ``add_jobs`` (0.4 s for
        100k jobs) and the hand-over to the client, so no job is final before it starts."""
        return 0.25 + 1.5 * jobs / 100_000


FULL = Settings(
    rate=100,
    burst=10,
    interval=1.0,
    window=12.0,
    cap=27.0,
    runs={1_000: 3, 10_000: 3, 100_000: 3},
    capped_runs={100_000: 1},
)
QUICK = Settings(
    rate=100, burst=10, interval=0.1, window=1.0, cap=4.0, runs={30: 1}, capped_runs={}
)

CLIENTS = {
    "fleet": "fleet refresh (wait_for_jobs default)",
    "per_job": "per-job polling (fleet_refresh=False)",
    "naive": "naive asyncio.gather of wait_for_job",
}
BEST = "best possible for the budget (simulated)"
BEST_AT_P = "best possible, one sweep per poll interval (simulated)"


# -- the client, in a child process of its own ----------------------------------------------


def rss_mib() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize() / 2**20


def emit(message: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(message, separators=(",", ":")) + "\n")
    sys.stdout.flush()


def job_index(job_id: str) -> int:
    return int(job_id.removeprefix("ftjob-")) - 1


class Tally:
    """When each job's outcome reached the client (unix time; NaN while it has not)."""

    def __init__(self, jobs: int) -> None:
        self.notified = array("d", [math.nan]) * jobs
        self.errors = 0

    def outcome(self, index: int, ok: bool) -> None:
        if ok:
            self.notified[index] = time.time()
        else:
            self.errors += 1


async def watch_monitor(
    session: AsyncSession, ids: list[str], tally: Tally, interval: float, fleet: bool
) -> None:
    # an async generator (typed as an iterator): closed here, so its monitor stops at the cap
    outcomes = cast(
        AsyncGenerator[FineTuningJob | JobWaitError, None],
        as_completed(session, ids, poll_interval=interval, fleet_refresh=fleet),
    )
    async with contextlib.aclosing(outcomes):
        async for outcome in outcomes:
            if isinstance(outcome, FineTuningJob):
                tally.outcome(job_index(outcome.id), True)
            else:
                tally.outcome(job_index(outcome.job_id), False)


async def watch_naive(session: AsyncSession, ids: list[str], tally: Tally, interval: float) -> None:
    def done(index: int, task: asyncio.Task[FineTuningJob]) -> None:
        if not task.cancelled():
            tally.outcome(index, task.exception() is None)

    tasks = []
    for index, job_id in enumerate(ids):
        task = asyncio.ensure_future(wait_for_job(session, job_id, poll_interval=interval))
        task.add_done_callback(partial(done, index))
        tasks.append(task)
    try:
        await asyncio.gather(*tasks, return_exceptions=True)
    finally:
        for task in tasks:
            task.cancel()


async def watch(
    kind: str, url: str, api_key: str, ids: list[str], tally: Tally, interval: float, cap: float
) -> dict[str, Any]:
    watchers: dict[str, Callable[[AsyncSession], Awaitable[None]]] = {
        "fleet": lambda s: watch_monitor(s, ids, tally, interval, fleet=True),
        "per_job": lambda s: watch_monitor(s, ids, tally, interval, fleet=False),
        "naive": lambda s: watch_naive(s, ids, tally, interval),
    }
    trace: list[tuple[float, float | None]] = []
    async with AsyncSession(api_key, base_url=url) as session:

        async def trace_budget() -> None:  # what pace the AdaptiveBudget is at, twice a second
            while True:
                trace.append((time.time(), getattr(session.budget, "rate", None)))
                await asyncio.sleep(0.5)

        tracer = asyncio.create_task(trace_budget())
        started = time.time()
        capped = False
        try:
            async with asyncio.timeout(cap):
                await watchers[kind](session)
        except TimeoutError:
            capped = True
        finally:
            tracer.cancel()
        ended = time.time()
    return {"started": started, "ended": ended, "capped": capped, "budget": trace}


def client_main(kind: str, jobs: int, interval: float, cap: float) -> None:
    ids = [f"ftjob-{number:06d}" for number in range(1, jobs + 1)]
    tally = Tally(jobs)
    gc.collect()
    baseline = rss_mib()
    emit({"ready": True})
    go = json.loads(sys.stdin.readline())  # the server's url, once its jobs are scripted
    result = asyncio.run(watch(kind, go["url"], go["api_key"], ids, tally, interval, cap))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    result["rss_growth"] = peak - baseline
    result["errors"] = tally.errors
    result["notified"] = [None if math.isnan(t) else t for t in tally.notified]
    emit(result)


# -- the best any client can do for the budget ----------------------------------------------


def best_possible(
    finals: Sequence[float], rate: float, burst: int, min_sweep: float = 0.0
) -> tuple[list[float], int]:
    """Latencies of an ideal list-page client (see the module docstring), and its requests.

    ``finals`` are seconds from the client's start until each job is final, in creation order;
    the list is newest first. Tokens: ``burst`` at time 0, then ``rate`` a second.
    """
    order = list(reversed(finals))  # position p on the list
    count = len(order)
    seen = bytearray(count)
    latency = [0.0] * count
    left, requests, cursor = count, 0, 0
    now, tokens, refilled = 0.0, float(burst), 0.0
    sweep_started: float | None = None
    while left:
        while cursor < count and seen[cursor]:
            cursor += 1
        if cursor >= count:  # the end of the list: sweep again from the top
            cursor = 0
            if sweep_started is not None:
                now = max(now, sweep_started + min_sweep)
            sweep_started = None
            continue
        tokens = min(float(burst), tokens + (now - refilled) * rate)
        refilled = now
        if tokens < 1:
            now += (1 - tokens) / rate
            tokens, refilled = 1.0, now
        tokens -= 1
        requests += 1
        if sweep_started is None:
            sweep_started = now
        for position in range(cursor, min(cursor + PAGE, count)):
            if not seen[position] and order[position] <= now:
                seen[position] = 1
                latency[position] = now - order[position]
                left -= 1
        cursor += PAGE
    return latency, requests


# -- one run: a server and a client, each in a process of its own ----------------------------


def p99(values: Sequence[float]) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.99 * len(ordered)) - 1)]


@dataclass
class Run:
    client: str
    jobs: int
    seed: int
    requests: int
    list_pages: int
    job_gets: int
    limited: int  # 429s
    early_requests: int  # in the first GRACE seconds of the watch
    early_limited: int
    notified: int
    errors: int
    capped: bool
    mean: float
    p99: float
    best_mean: float
    best_p99: float
    best_requests: int
    best_at_p_mean: float
    best_at_p_p99: float
    best_at_p_requests: int
    rss_growth: float
    seconds: float
    other_load: float  # CPU cores busy with other processes on the machine, on average
    budget: list[tuple[float, float | None]] = field(repr=False)
    requests_per_second: list[int] = field(repr=False)
    limited_per_second: list[int] = field(repr=False)

    @property
    def censored(self) -> bool:
        """Whether some job has no outcome time, so latencies are lower bounds."""
        return self.notified < self.jobs

    @property
    def late_share(self) -> float | None:
        """The share of 429s among requests after the first GRACE seconds (None: none)."""
        late = self.requests - self.early_requests
        return (self.limited - self.early_limited) / late if late else None


class Children:
    """Child processes, killed at the end whatever happened (and by a watchdog if stuck)."""

    def __init__(self, limit: float) -> None:
        self.processes: list[tuple[str, subprocess.Popen[str], IO[bytes]]] = []
        self.watchdog = threading.Timer(limit, self.kill)
        self.watchdog.daemon = True
        self.files = contextlib.ExitStack()

    def __enter__(self) -> Children:
        self.watchdog.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.watchdog.cancel()
        self.kill()
        for _, process, _ in self.processes:
            process.wait()
            for stream in (process.stdin, process.stdout):
                if stream is not None:
                    with contextlib.suppress(OSError):  # a pipe to a killed child
                        stream.close()
        self.files.close()

    def kill(self) -> None:
        for _, process, _ in self.processes:
            if process.poll() is None:
                process.kill()

    def start(self, name: str, command: list[str]) -> subprocess.Popen[str]:
        # unlinked as soon as made, so nothing is left behind; closed by the ExitStack
        stderr = self.files.enter_context(tempfile.TemporaryFile())  # noqa: SIM115
        process = subprocess.Popen(
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            cwd=HERE.parent,
        )
        self.processes.append((name, process, stderr))
        return process

    def send(self, process: subprocess.Popen[str], line: str) -> None:
        assert process.stdin is not None
        process.stdin.write(line + "\n")
        process.stdin.flush()

    def receive(self, process: subprocess.Popen[str]) -> dict[str, Any]:
        assert process.stdout is not None
        line = process.stdout.readline()
        if not line:
            name, _, stderr = next(entry for entry in self.processes if entry[1] is process)
            process.wait()
            stderr.seek(0)
            tail = stderr.read().decode(errors="replace")[-2000:]
            raise RuntimeError(f"{name} exited ({process.returncode}) without answering:\n{tail}")
        message: dict[str, Any] = json.loads(line)
        return message


def machine_cpu() -> float:
    """CPU seconds every process on the machine has used since boot (Linux)."""
    with open("/proc/stat") as stat:
        ticks = [int(value) for value in stat.readline().split()[1:9]]
    idle = ticks[3] + ticks[4]  # idle and iowait
    return (sum(ticks) - idle) / os.sysconf("SC_CLK_TCK")


def own_cpu() -> float:
    """CPU seconds of this process and of its children that have been waited for."""
    total = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        usage = resource.getrusage(who)
        total += usage.ru_utime + usage.ru_stime
    return total


def per_second(timeline: list[list[float]], started: float) -> tuple[list[int], list[int]]:
    """Requests and 429s in each second of the watch, from the server's sampled counters."""
    requests: list[int] = []
    limited: list[int] = []
    last_requests = last_limited = 0
    for when, total, rate_limited in timeline:
        second = int(when - started)
        if second < 0:
            continue
        while len(requests) <= second:
            requests.append(0)
            limited.append(0)
        requests[second] += int(total) - last_requests
        limited[second] += int(rate_limited) - last_limited
        last_requests, last_limited = int(total), int(rate_limited)
    return requests, limited


def counts_at(timeline: list[list[float]], when: float) -> tuple[int, int]:
    """Requests and 429s by ``when`` (the first sample at or after it)."""
    for sampled, requests, limited in timeline:
        if sampled >= when:
            return int(requests), int(limited)
    _, requests, limited = timeline[-1]
    return int(requests), int(limited)


def measure_run(kind: str, jobs: int, seed: int, settings: Settings) -> Run:
    server_command = [
        sys.executable,
        str(SERVER),
        f"--jobs={jobs}",
        f"--window={settings.window}",
        f"--lead={settings.lead(jobs)}",
        f"--seed={seed}",
        f"--rate={settings.rate}",
        f"--burst={settings.burst}",
        f"--lifetime={settings.cap + 300}",
    ]
    client_command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--client",
        kind,
        f"--jobs={jobs}",
        f"--interval={settings.interval}",
        f"--cap={settings.cap}",
    ]
    busy, own, wall = machine_cpu(), own_cpu(), time.monotonic()
    with Children(limit=settings.cap + 120 + jobs / 500) as children:
        server = children.start("the server", server_command)
        client = children.start(f"the {kind} client", client_command)
        hello = children.receive(server)
        children.receive(client)  # ready: imported, ids built, baseline RSS taken
        children.send(server, "start")
        children.receive(server)
        children.send(client, json.dumps({"url": hello["url"], "api_key": hello["api_key"]}))
        result = children.receive(client)
        children.send(server, "stop")
        stats = children.receive(server)
    # the children are reaped now, so their CPU time is in own_cpu()
    other_load = (machine_cpu() - busy - (own_cpu() - own)) / (time.monotonic() - wall)

    started: float = result["started"]
    finals: list[float] = stats["finals"]
    end = result["ended"]
    latencies = []
    for final, notified in zip(finals, result["notified"], strict=True):
        latencies.append(notified - final if notified is not None else max(0.0, end - final))
    relative = [final - started for final in finals]
    best, best_requests = best_possible(relative, settings.rate, settings.burst)
    best_at_p, best_at_p_requests = best_possible(
        relative, settings.rate, settings.burst, settings.interval
    )
    early_requests, early_limited = counts_at(stats["timeline"], started + GRACE)
    requests_per_second, limited_per_second = per_second(stats["timeline"], started)
    return Run(
        client=kind,
        jobs=jobs,
        seed=seed,
        requests=stats["requests"],
        list_pages=stats["list_pages"],
        job_gets=stats["job_gets"],
        limited=stats["rate_limited"],
        early_requests=early_requests,
        early_limited=early_limited,
        notified=sum(t is not None for t in result["notified"]),
        errors=result["errors"],
        capped=result["capped"],
        mean=statistics.fmean(latencies),
        p99=p99(latencies),
        best_mean=statistics.fmean(best),
        best_p99=p99(best),
        best_requests=best_requests,
        best_at_p_mean=statistics.fmean(best_at_p),
        best_at_p_p99=p99(best_at_p),
        best_at_p_requests=best_at_p_requests,
        rss_growth=result["rss_growth"],
        seconds=end - started,
        budget=[(when - started, rate) for when, rate in result["budget"]],
        other_load=max(0.0, other_load),
        requests_per_second=requests_per_second,
        limited_per_second=limited_per_second,
    )


def measure(settings: Settings, progress: bool = False) -> list[Run]:
    """Every client at every size, runs interleaved client by client."""
    runs: list[Run] = []
    for jobs, count in settings.runs.items():
        for seed in range(count):
            for kind in CLIENTS:
                if kind != "fleet" and seed >= settings.capped_runs.get(jobs, count):
                    continue
                run = measure_run(kind, jobs, seed, settings)
                runs.append(run)
                if progress:
                    print(describe(run), file=sys.stderr, flush=True)
    return runs


# -- reporting ------------------------------------------------------------------------------


def describe(run: Run) -> str:
    """One line per run, for --details."""
    paces = []
    for second in (0, 1, 2, 3, 5, 10, 15, 20, 25):
        if second > run.seconds:
            break
        # the pace sampled in [second, second + 1); none if the client's loop was stalled
        rates = [rate for at, rate in run.budget if second <= at < second + 1]
        pace = "-" if not rates else "unpaced" if rates[0] is None else f"{rates[0]:.0f}/s"
        paces.append(f"{second}s: {pace}")
    late = "n/a" if run.late_share is None else f"{run.late_share:.2%}"
    return (
        f"{run.jobs} jobs, {run.client}, run {run.seed + 1}: {run.seconds:.1f} s, "
        f"{run.requests} requests ({run.list_pages} list pages, {run.job_gets} job gets), "
        f"429s {run.early_limited} in the first {GRACE:g} s / "
        f"{run.limited - run.early_limited} after ({late}), "
        f"notified {run.notified}/{run.jobs}, errors {run.errors}, "
        f"latency mean {run.mean:.2f} p99 {run.p99:.2f} s "
        f"(best {run.best_mean:.2f}/{run.best_p99:.2f}, at P {run.best_at_p_mean:.2f}/"
        f"{run.best_at_p_p99:.2f}), RSS +{run.rss_growth:.1f} MiB; "
        f"other processes used {run.other_load:.0%} of a core; "
        f"requests per second: {run.requests_per_second}; "
        f"429s per second: {run.limited_per_second}; budget pace: {', '.join(paces)}"
    )


@dataclass
class Cell:
    """One row of the table: a client (or a bound) at one size, over its runs."""

    jobs: int
    client: str
    runs: str
    requests: str
    limited: str
    late_share: str
    notified: str
    mean: str
    p99: str
    vs_best: str
    rss: str


def spread(values: Sequence[float], unit: str, digits: int = 2, bound: bool = False) -> str:
    """``min / median`` (one value for one run); ``≥`` marks lower bounds."""
    mark = "≥ " if bound else ""
    low, mid = min(values), statistics.median(values)
    if len(values) == 1:
        return f"{mark}{low:.{digits}f} {unit}"
    return f"{mark}{low:.{digits}f} / {mark}{mid:.{digits}f} {unit}"


def worst_share(runs: Sequence[Run]) -> str:
    shares = [run.late_share for run in runs if run.late_share is not None]
    return f"{max(shares):.2%}" if shares else f"n/a (no requests after {GRACE:g} s)"


def median_int(values: Sequence[float]) -> int:
    return round(statistics.median(values))


def cells(runs: list[Run], settings: Settings) -> list[Cell]:
    table: list[Cell] = []
    for jobs in settings.runs:
        for kind, name in CLIENTS.items():
            mine = [run for run in runs if run.jobs == jobs and run.client == kind]
            if not mine:
                continue
            censored = any(run.censored for run in mine)
            capped = sum(run.capped for run in mine)
            runs_text = f"{len(mine)}" + (
                f", {capped} stopped by the {settings.cap:g} s cap" if capped else ""
            )
            other = max(run.other_load for run in mine)
            if other >= BUSY:
                runs_text += f"; other processes up to {other:.0%} of a core"
            notified = f"{median_int([r.notified for r in mine]):,}/{jobs:,}"
            errors = sum(run.errors for run in mine)
            if errors:
                notified += f" ({errors} errors)"
            ratios = [run.p99 / run.best_p99 for run in mine]
            ratios_at_p = [run.p99 / run.best_at_p_p99 for run in mine]
            mark = "≥ " if censored else ""
            table.append(
                Cell(
                    jobs=jobs,
                    client=name,
                    runs=runs_text,
                    requests=f"{median_int([r.requests for r in mine]):,}",
                    limited=f"{median_int([r.early_limited for r in mine]):,} / "
                    f"{median_int([r.limited - r.early_limited for r in mine]):,}",
                    late_share=worst_share(mine),
                    notified=notified,
                    mean=spread([r.mean for r in mine], "s", bound=censored),
                    p99=spread([r.p99 for r in mine], "s", bound=censored),
                    vs_best=f"{mark}{statistics.median(ratios):.1f}x "
                    f"({mark}{statistics.median(ratios_at_p):.1f}x at P)",
                    rss=spread([r.rss_growth for r in mine], "MiB", digits=1),
                )
            )
        # the bounds, simulated with the fleet runs' finish times
        reference = [run for run in runs if run.jobs == jobs and run.client == "fleet"]
        if not reference:
            continue
        for name, requests, means, p99s, vs in (
            (
                BEST,
                [r.best_requests for r in reference],
                [r.best_mean for r in reference],
                [r.best_p99 for r in reference],
                "1.0x",
            ),
            (
                BEST_AT_P,
                [r.best_at_p_requests for r in reference],
                [r.best_at_p_mean for r in reference],
                [r.best_at_p_p99 for r in reference],
                f"{statistics.median([r.best_at_p_p99 / r.best_p99 for r in reference]):.1f}x",
            ),
        ):
            table.append(
                Cell(
                    jobs=jobs,
                    client=name,
                    runs=f"{len(reference)} (simulated)",
                    requests=f"{median_int(requests):,}",
                    limited="0 / 0",
                    late_share="0.00%",
                    notified=f"{jobs:,}/{jobs:,}",
                    mean=spread(means, "s"),
                    p99=spread(p99s, "s"),
                    vs_best=vs,
                    rss="-",
                )
            )
    return table


def markdown(table: list[Cell]) -> str:
    lines = [
        "| jobs | client | runs | requests | 429s: first 10 s / after | 429 % after 10 s "
        "(worst run) | notified | latency mean (min / median) | latency p99 (min / median) "
        "| p99 / best | peak RSS growth (min / median) |",
        "|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for c in table:
        lines.append(
            f"| {c.jobs:,} | {c.client} | {c.runs} | {c.requests} | {c.limited} | "
            f"{c.late_share} | {c.notified} | {c.mean} | {c.p99} | {c.vs_best} | {c.rss} |"
        )
    return "\n".join(lines)


def label(settings: Settings, jobs: int, client: str) -> str:
    return f"rate limit {settings.rate:g} req/s, {jobs} jobs: {client}"


def rows(table: list[Cell], settings: Settings) -> list[Row]:
    """The table in run.py's (label, measured, ratio) shape."""
    out: list[Row] = []
    for c in table:
        measured = (
            f"{c.requests} requests, 429s {c.limited} (first 10 s / after), 429 share after "
            f"10 s {c.late_share} (worst run), {c.notified} notified, latency mean {c.mean}, "
            f"p99 {c.p99}"
        )
        if c.rss != "-":
            measured += f", peak RSS +{c.rss}"
        out.append(
            (label(settings, c.jobs, c.client), measured, f"p99 vs best possible: {c.vs_best}")
        )
    return out


def header(settings: Settings, runs: list[Run]) -> str:
    sizes = []
    for jobs, count in settings.runs.items():
        text = f"{jobs:,} jobs x {count} run{'s' if count > 1 else ''}"
        capped = settings.capped_runs.get(jobs)
        if capped is not None and capped < count:
            text += f" (per-job and naive: {capped}, stopped by the cap)"
        sizes.append(text)
    busiest = max(runs, key=lambda run: run.other_load)
    return (
        f"Run on {time.strftime('%Y-%m-%d')}, Python {platform.python_version()}, "
        f"{os.cpu_count()} cores, nebius_ft_async {nebius_ft_async.__version__}. "
        f"Server: FakeTokenFactory(rate_limit={settings.rate:g}, rate_burst={settings.burst}) "
        f"in its own process; jobs final uniformly over W = {settings.window:g} s; "
        f"poll_interval P = {settings.interval:g} s; runs stop at {settings.cap:g} s; "
        f"{', '.join(sizes)}. Other processes on the machine used a median "
        f"{statistics.median(run.other_load for run in runs):.0%} of a core during a run, "
        f"at most {busiest.other_load:.0%} ({busiest.jobs:,} jobs, {CLIENTS[busiest.client]}, "
        f"run {busiest.seed + 1})."
    )


def bench_rate_limited(quick: bool) -> list[Row]:
    """Benchmark 7 as rows for run.py."""
    settings = QUICK if quick else FULL
    return rows(cells(measure(settings), settings), settings)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="30 jobs, one run per client")
    parser.add_argument("--details", action="store_true", help="one line per run on stderr")
    parser.add_argument("--client", choices=list(CLIENTS), help=argparse.SUPPRESS)
    parser.add_argument("--jobs", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--interval", type=float, help=argparse.SUPPRESS)
    parser.add_argument("--cap", type=float, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.client:
        client_main(args.client, args.jobs, args.interval, args.cap)
        return
    settings = QUICK if args.quick else FULL
    runs = measure(settings, progress=args.details)
    print(f"{header(settings, runs)}\n\n{markdown(cells(runs, settings))}")


if __name__ == "__main__":
    main()

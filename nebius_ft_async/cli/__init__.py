"""The ``nebius-ft`` command: look at jobs, wait for them with live progress, run a demo.

::

    nebius-ft demo                               # no account, no network
    nebius-ft jobs get ftjob-abc [--json]
    nebius-ft jobs wait ftjob-a ftjob-b [--timeout S] [--interval S]
    nebius-ft events ftjob-abc [--follow] [--json]
    nebius-ft checkpoints ftjob-abc [--json]
    nebius-ft operations results OPERATION_ID [--json]
    nebius-ft files check train.jsonl [--json]  # no account, no network
    nebius-ft mcp [--allow-create] [--allow-upload] [--root DIR]   # see nebius_ft_async.mcp

Reads NEBIUS_API_KEY and NEBIUS_BASE_URL, or ``--api-key`` / ``--base-url``. Exit codes:
0 success; 1 a job failed or was cancelled, or the API answered with an error; 2 bad usage
or settings (no key); 124 ``jobs wait`` timed out; 130 interrupted.

A number the server sends that cannot be shown (a time past the year 9999, a loss of NaN, a
step count of 4000 digits) is shown as "-"; ``--json`` prints it as sent.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import msgspec

from .. import __version__
from .._checks import positive_seconds
from .._endpoints import Endpoints
from .._errors import (
    APIStatusError,
    AuthenticationError,
    ConfigurationError,
    NebiusError,
    PermissionDeniedError,
)
from .._models import DatasetFileResult, FineTuningJob
from .._monitor import wait_for_jobs
from .._polling import JobWaitError, WaitTimeout, default_poll_timeout, follow_events
from .._session import AsyncSession
from ..mcp import add_command as add_mcp_command
from ..mcp import run_command as run_mcp_command
from ._display import (
    JobLine,
    count_text,
    loss_text,
    make_display,
    number_or_none,
    steps_text,
    when_text,
)
from ._files import add_files_command, run_files

EXIT_OK, EXIT_JOB_FAILED, EXIT_USAGE, EXIT_TIMEOUT, EXIT_INTERRUPTED = 0, 1, 2, 124, 130

Command = Callable[[AsyncSession, argparse.Namespace], Awaitable[int]]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nebius-ft",
        description="Watch Nebius Token Factory fine-tuning jobs from the command line.",
        epilog="Start with 'nebius-ft demo': it needs no account and no network.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--api-key", help="API key (default: $NEBIUS_API_KEY)")
    parser.add_argument("--base-url", help="API base URL (default: $NEBIUS_BASE_URL)")
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="log retries and polling trouble to stderr"
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    jobs = commands.add_parser("jobs", help="get or wait for jobs").add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    get = jobs.add_parser("get", help="show a job")
    get.add_argument("job_id")
    get.add_argument("--json", action="store_true", help="print the job as JSON")
    get.set_defaults(run=_jobs_get)
    wait = jobs.add_parser("wait", help="wait for jobs, with live progress")
    wait.add_argument("job_ids", nargs="+", metavar="JOB_ID")
    wait.add_argument("--timeout", type=_seconds, help="give up after this many seconds")
    wait.add_argument(
        "--interval", type=_seconds, default=5.0, help="seconds between polls (at least 1)"
    )
    wait.set_defaults(run=_jobs_wait)

    events = commands.add_parser("events", help="a job's events")
    events.add_argument("job_id")
    events.add_argument("--follow", action="store_true", help="keep printing new events")
    events.add_argument(
        "--interval", type=_seconds, default=5.0, help="seconds between polls (at least 1)"
    )
    events.add_argument("--json", action="store_true", help="one JSON object per line")
    events.set_defaults(run=_events)

    checkpoints = commands.add_parser("checkpoints", help="a job's checkpoints")
    checkpoints.add_argument("job_id")
    checkpoints.add_argument("--json", action="store_true", help="one JSON object per line")
    checkpoints.set_defaults(run=_checkpoints)

    operations = commands.add_parser("operations", help="operation results").add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    results = operations.add_parser("results", help="checkpoints or file an operation made")
    results.add_argument("operation_id")
    results.add_argument("--json", action="store_true", help="one JSON object per line")
    results.set_defaults(run=_operation_results)

    add_files_command(commands)

    demo = commands.add_parser("demo", help="watch simulated jobs on a local fake API")
    demo.add_argument("--interval", type=_seconds, default=0.5, help=argparse.SUPPRESS)
    demo.set_defaults(run=None)
    add_mcp_command(commands)
    return parser


def _seconds(text: str) -> float:
    """An argparse type: a finite number of seconds above 0."""
    try:
        return positive_seconds("value", float(text))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"must be a finite number of seconds above 0, got {text!r}"
        ) from None


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    args = _parser().parse_args(argv)
    # polls that fail and will be retried are shown (WARNING); -v adds each retry (INFO)
    logging.basicConfig(
        format="nebius-ft: %(message)s", level=logging.INFO if args.verbose else logging.WARNING
    )
    try:
        if args.command == "files":
            return run_files(args)
        if args.command == "demo":
            from ._demo import run_demo

            return asyncio.run(run_demo(args.interval))
        if args.command == "mcp":
            return asyncio.run(run_mcp_command(args))
        return asyncio.run(_with_session(args.run, args))
    except (ConfigurationError, ValueError) as error:  # bad settings or arguments (an empty id)
        print(f"nebius-ft: {error}", file=sys.stderr)
        return EXIT_USAGE
    except NebiusError as error:
        print(f"nebius-ft: {error}", file=sys.stderr)
        return EXIT_JOB_FAILED
    except KeyboardInterrupt:
        print("nebius-ft: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # the reader went away (| head): stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK


def run() -> None:
    """Entry point of the ``nebius-ft`` console script."""
    sys.exit(main())


async def _with_session(command: Command, args: argparse.Namespace) -> int:
    async with AsyncSession(args.api_key, base_url=args.base_url) as session:
        interval = getattr(args, "interval", None)
        if interval is not None and interval < session.min_poll_interval:
            raise ValueError(
                f"--interval must be at least {session.min_poll_interval:g} s against this "
                f"API, so polls cannot flood it; got {interval:g}"
            )
        return await command(session, args)


def _json_line(value: Any) -> None:
    print(msgspec.json.encode(msgspec.to_builtins(value)).decode(), flush=True)


def _table(rows: list[list[str]], headers: list[str]) -> None:
    widths = [max(len(row[i]) for row in [headers, *rows]) for i in range(len(headers))]
    for row in [headers, *rows]:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))


async def _latest_train_loss(session: Endpoints, job_id: str) -> float | None:
    """The train loss of the newest metrics event on the first page of events.

    ``None`` when there is none, or the newest is not a finite number (NaN, "n/a", 10**400).
    """
    page = await session.list_events(job_id, limit=20)
    metrics = [e for e in page.data if e.metrics and e.metrics.get("train_loss") is not None]
    if not metrics:
        return None
    newest = max(metrics, key=lambda event: (event.created_at, event.id))
    assert newest.metrics is not None
    return number_or_none(newest.metrics["train_loss"])


async def _jobs_get(session: AsyncSession, args: argparse.Namespace) -> int:
    job = await session.get_job(args.job_id)
    if args.json:
        _json_line(job)
        return EXIT_OK
    progress = "-" if job.progress is None else f"{job.progress:.0%}"
    rows = [
        ["id", job.id],
        ["status", str(job.status)],
        ["model", job.model],
        ["steps", f"{steps_text(job.trained_steps or 0, job.total_steps)} ({progress})"],
        ["trained tokens", count_text(job.trained_tokens or None)],
        ["created", when_text(job.created_at)],
        ["estimated finish", when_text(job.estimated_finish)],
        ["finished", when_text(job.finished_at)],
        ["training file", job.training_file],
        ["result files", ", ".join(job.result_files) or "-"],
    ]
    if job.error is not None:
        rows.append(["error", f"{job.error.code}: {job.error.message}"])
    for name, value in rows:
        print(f"{name:>17}  {value}")
    return EXIT_OK


async def watch_jobs(
    session: Endpoints, job_ids: list[str], *, interval: float, timeout: float | None
) -> int:
    """Wait for jobs with a live display; the exit code of ``jobs wait``."""
    display = make_display(job_ids)

    async def on_update(job: FineTuningJob) -> None:
        display.update(JobLine.of(job, await _latest_train_loss(session, job.id)))

    try:
        results = await wait_for_jobs(
            session, job_ids, poll_interval=interval, timeout=timeout, on_update=on_update
        )
        for job_id, outcome in results.items():
            if isinstance(outcome, JobWaitError):
                last = outcome.job
                line = JobLine(job_id) if last is None else JobLine.of(last, None)
                line.note = "timed out" if isinstance(outcome, WaitTimeout) else str(outcome.error)
                display.update(line)
    finally:
        display.close()
    outcomes = list(results.values())
    if any(isinstance(o, WaitTimeout) for o in outcomes):
        return EXIT_TIMEOUT
    if all(isinstance(o, FineTuningJob) and o.status == "succeeded" for o in outcomes):
        return EXIT_OK
    return EXIT_JOB_FAILED


async def _reachable(
    session: AsyncSession, job_id: str, interval: float, timeout: float | None
) -> None:
    """Fail at once if the API cannot be reached or refuses the key, instead of polling.

    Other errors (a 404 for this job, a passing 5xx, a 429 pause) are left to the wait,
    which reports them per job or rides them out; this check never outlasts ``timeout``.
    """
    try:
        await session.get_job(job_id, timeout=timeout or default_poll_timeout(interval))
    except (AuthenticationError, PermissionDeniedError):
        raise
    except APIStatusError:
        pass


async def _jobs_wait(session: AsyncSession, args: argparse.Namespace) -> int:
    job_ids = list(dict.fromkeys(args.job_ids))
    await _reachable(session, job_ids[0], args.interval, args.timeout)
    return await watch_jobs(session, job_ids, interval=args.interval, timeout=args.timeout)


async def _events(session: AsyncSession, args: argparse.Namespace) -> int:
    if args.follow:
        await _reachable(session, args.job_id, args.interval, None)
        async for event in follow_events(session, args.job_id, poll_interval=args.interval):
            if args.json:
                _json_line(event)
            else:
                when = when_text(event.created_at)
                print(f"{when}  {event.level:<5}  {event.message}", flush=True)
        return EXIT_OK
    events = [event async for event in session.iter_events(args.job_id)]
    events.sort(key=lambda event: (event.created_at, event.id))
    if args.json:
        for event in events:
            _json_line(event)
        return EXIT_OK
    _table(
        [[when_text(e.created_at), str(e.level), e.message] for e in events],
        ["time (UTC)", "level", "message"],
    )
    return EXIT_OK


async def _checkpoints(session: AsyncSession, args: argparse.Namespace) -> int:
    checkpoints = [c async for c in session.iter_checkpoints(args.job_id)]
    if args.json:
        for checkpoint in checkpoints:
            _json_line(checkpoint)
        return EXIT_OK
    _table(
        [
            [
                c.id,
                count_text(c.step_number),
                loss_text(c.metrics.train_loss),
                loss_text(c.metrics.valid_loss),
                ", ".join(c.result_files) or "-",
            ]
            for c in checkpoints
        ],
        ["checkpoint", "step", "train loss", "valid loss", "result files"],
    )
    return EXIT_OK


async def _operation_results(session: AsyncSession, args: argparse.Namespace) -> int:
    first = await session.get_operation_results(args.operation_id)
    if isinstance(first, DatasetFileResult):
        if args.json:
            _json_line(first)
        else:
            print(f"output file: {first.file_id}")
        return EXIT_OK
    checkpoints = list(first.data)
    if first.has_more and first.data:
        rest = session.iter_operation_results(args.operation_id, after=first.data[-1].id)
        shown = {c.id for c in checkpoints}  # a server that ignores the cursor repeats them
        checkpoints += [c async for c in rest if c.id not in shown]
    if args.json:
        for checkpoint in checkpoints:
            _json_line(checkpoint)
        return EXIT_OK
    _table(
        [[c.id, count_text(c.step_number), ", ".join(c.result_files) or "-"] for c in checkpoints],
        ["checkpoint", "step", "result files"],
    )
    return EXIT_OK

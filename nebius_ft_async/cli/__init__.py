"""The ``nebius-ft`` command: upload data, start jobs, wait for them with live progress,
download what they made, serve a fake API for tests, run a demo.

::

    nebius-ft demo                               # no account, no network
    nebius-ft files upload train.jsonl [--purpose P] [--no-check] [--json] [--timeout S]
    nebius-ft files list [--limit N] [--purpose P]
    nebius-ft files get FILE_ID | files download FILE_ID DEST | files link FILE_ID
    nebius-ft files delete FILE_ID [--yes]
    nebius-ft datasets upload rows.jsonl --name N --schema text:string --folder /datasets
        [--part-size 64M] [--concurrency 4] [--resume] [--keep-on-error] [--no-check]
    nebius-ft datasets export DATASET_ID DEST [--format jsonl|csv] | datasets get DATASET_ID
    nebius-ft jobs create --model M --training-file F [--epochs N] ... [--yes|--dry-run] [--wait]
    nebius-ft jobs list [--limit N]
    nebius-ft jobs cancel ftjob-abc [--yes]
    nebius-ft jobs get ftjob-abc [--json] [--timeout S]
    nebius-ft jobs wait ftjob-a ftjob-b [--timeout S] [--interval S]
    nebius-ft events ftjob-abc [--follow] [--json] [--timeout S]
    nebius-ft checkpoints ftjob-abc [--json] [--timeout S]
    nebius-ft operations results OPERATION_ID [--json] [--timeout S]
    nebius-ft files check train.jsonl [--json]  # no account, no network
    nebius-ft models deploy --name N (--job ftjob-abc [--checkpoint C] | --archive adapter.zip
        | --hf org/adapter) [--base-model M] [--yes|--dry-run] [--wait] [--json]
    nebius-ft models list | models get NAME | models delete NAME [--yes]   # [--json]
    nebius-ft models wait NAME [--timeout S] [--interval S]
    nebius-ft mcp [--allow-create] [--allow-upload] [--root DIR]   # see nebius_ft_async.mcp
    nebius-ft fake serve [--port P] [--jobs N] [--rate-limit R] [--json]   # for other tests

Reads NEBIUS_API_KEY and NEBIUS_BASE_URL, or ``--api-key`` / ``--base-url``; these, ``-v``
and ``--allow-insecure-http`` go before or after the command. Exit codes: 0 success; 1 a job
failed or was cancelled, a model ended in error, the API answered with an error, or a
confirmation was declined; 2 bad usage or settings (no key); 124 ``--timeout`` ran out;
130 interrupted.

``--json`` of every command that talks to the API prints what the server sent, every field
included, one JSON object per line (for a list, one per item of every page).
``jobs create``, ``jobs cancel``, ``files delete``, ``models deploy`` and ``models delete``
ask before they act when stdin is a terminal, and refuse without ``--yes`` when it is not.

A number the server sends that cannot be shown (a time past the year 9999, a loss of NaN, a
step count of 4000 digits) is shown as "-"; ``--json`` prints it as sent.

Each command is added to the parser by one function of ``COMMANDS``; a command sets
``run`` (an async function of a session and the arguments) or ``start`` (a function of the
arguments alone, for commands that need no API key).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeAlias

from .. import __version__
from .._checks import positive_seconds
from .._errors import (
    ConfigurationError,
    NebiusError,
)
from .._models import FineTuningJob
from .._session import AsyncSession
from .._urls import normalize_base_url
from ..mcp import add_command as add_mcp_command
from ._datasets import add_datasets_command
from ._display import count_text, install_log_handler, steps_text, when_text
from ._fake import add_fake_command
from ._files import add_files_command
from ._jobs_read import add_read_commands
from ._jobs_write import add_job_actions
from ._models import add_models_command
from ._shared import interval_option, print_answer, seconds, timeout_option
from ._wait import EXIT_JOB_FAILED, EXIT_OK, EXIT_TIMEOUT, watch_jobs

EXIT_USAGE, EXIT_INTERRUPTED = 2, 130

Command = Callable[[AsyncSession, argparse.Namespace], Awaitable[int]]
Subcommands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


def _api_options(parser: argparse.ArgumentParser, *, keep_defaults: bool) -> None:
    """The options every command shares. The main parser keeps their defaults; a command's
    parser does not (``SUPPRESS``), so a flag given before the command is not reset by it."""

    def default(value: object) -> object:
        return value if keep_defaults else argparse.SUPPRESS

    parser.add_argument(
        "--api-key", default=default(None), help="API key (default: $NEBIUS_API_KEY)"
    )
    parser.add_argument(
        "--base-url", default=default(None), help="API base URL (default: $NEBIUS_BASE_URL)"
    )
    parser.add_argument(
        "--allow-insecure-http",
        action="store_true",
        default=default(False),
        help="allow a plain http:// base URL to another machine (sends the key unencrypted)",
    )
    parser.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        default=default(False),
        help="also log each retry (polls that will be retried are always shown)",
    )


def _command(
    commands: Subcommands, name: str, help: str, common: argparse.ArgumentParser
) -> argparse.ArgumentParser:
    """A command's parser; it takes the shared options too."""
    return commands.add_parser(name, help=help, parents=[common])


def _add_jobs(commands: Subcommands, common: argparse.ArgumentParser) -> None:
    group = _command(commands, "jobs", "create, list, get, wait for or cancel jobs", common)
    jobs = group.add_subparsers(dest="action", required=True, metavar="ACTION")
    get = _command(jobs, "get", "show a job", common)
    get.add_argument("job_id")
    get.add_argument("--json", action="store_true", help="print the job as the API sent it")
    timeout_option(get)
    get.set_defaults(run=_jobs_get)
    wait = _command(jobs, "wait", "wait for jobs, with live progress", common)
    wait.add_argument("job_ids", nargs="+", metavar="JOB_ID")
    wait.add_argument(
        "--timeout",
        type=_wait_seconds,
        metavar="SECONDS",
        help="after a first look at each job, wait at most this many seconds for them "
        "(0: look once; exit code 124 if any is still going)",
    )
    interval_option(wait)
    wait.set_defaults(run=_jobs_wait, bounded=False)
    add_job_actions(jobs, common)


def _add_demo(commands: Subcommands, common: argparse.ArgumentParser) -> None:
    demo = _command(commands, "demo", "watch simulated jobs on a local fake API", common)
    demo.add_argument("--interval", type=seconds, default=0.5, help=argparse.SUPPRESS)
    demo.set_defaults(start=_demo)


COMMANDS: list[Callable[[Subcommands, argparse.ArgumentParser], None]] = [
    _add_jobs,
    add_read_commands,
    add_files_command,
    add_datasets_command,
    add_models_command,
    add_mcp_command,
    add_fake_command,
    _add_demo,
]
"""What adds each command to the parser, in the order ``--help`` lists them."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nebius-ft",
        description="Upload data, start and watch Nebius Token Factory fine-tuning jobs, and "
        "download what they made, from the command line.",
        epilog="Start with 'nebius-ft demo': it needs no account and no network.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    _api_options(parser, keep_defaults=True)
    parser.set_defaults(run=None, start=None, bounded=True, timeout=None)
    common = argparse.ArgumentParser(add_help=False)
    _api_options(common, keep_defaults=False)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in COMMANDS:
        add(commands, common)
    return parser


def _wait_seconds(text: str) -> float:
    """An argparse type: a finite number of seconds, 0 or more."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if value == 0:
        return 0.0
    try:
        return positive_seconds("value", value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"must be a finite number of seconds, 0 or more, got {text!r}"
        ) from None


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    args = _parser().parse_args(argv)
    install_log_handler(args.verbose)
    try:
        if args.start is not None:
            code: int = args.start(args)
            return code
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


def _demo(args: argparse.Namespace) -> int:
    from ._demo import run_demo

    return asyncio.run(run_demo(args.interval))


_CLI_WORDS = (
    ("pass allow_insecure_http=True", "pass --allow-insecure-http"),
    ("pass api_key instead", "give the key with --api-key or NEBIUS_API_KEY instead"),
)


def _session(args: argparse.Namespace) -> AsyncSession:
    """The session the arguments ask for; settings that cannot work raise a
    ``ConfigurationError`` naming the flag or variable to change."""
    key = (os.environ.get("NEBIUS_API_KEY", "") if args.api_key is None else args.api_key).strip()
    if not key:
        raise ConfigurationError("no API key: pass --api-key or set NEBIUS_API_KEY")
    if not (key.isascii() and key.isprintable()):
        raise ConfigurationError(
            "the API key (--api-key or NEBIUS_API_KEY) holds characters an HTTP header cannot "
            "carry (control characters or non-ASCII)"
        )
    base_url = args.base_url or os.environ.get("NEBIUS_BASE_URL") or None
    if base_url is not None:
        try:
            normalize_base_url(base_url, allow_insecure_http=args.allow_insecure_http)
        except ConfigurationError as error:
            message = str(error)
            for library_words, cli_words in _CLI_WORDS:
                message = message.replace(library_words, cli_words)
            source = "--base-url" if args.base_url else "NEBIUS_BASE_URL"
            raise ConfigurationError(message.replace("base_url", source)) from None
    return AsyncSession(key, base_url=base_url, allow_insecure_http=args.allow_insecure_http)


async def _with_session(command: Command, args: argparse.Namespace) -> int:
    async with _session(args) as session:
        interval = getattr(args, "interval", None)
        if interval is not None and interval < session.min_poll_interval:
            raise ValueError(
                f"--interval must be at least {session.min_poll_interval:g} s against this "
                f"API, so polls cannot flood it; got {interval:g}"
            )
        if not args.bounded or args.timeout is None:  # jobs wait judges its own deadline
            return await command(session, args)
        deadline = asyncio.timeout(args.timeout)
        try:
            async with deadline:
                return await command(session, args)
        except TimeoutError:
            if not deadline.expired():
                raise
        name = " ".join(filter(None, (args.command, getattr(args, "action", None))))
        print(
            f"nebius-ft: {name} did not finish within --timeout {args.timeout:g} s",
            file=sys.stderr,
        )
        return EXIT_TIMEOUT


async def _jobs_get(session: AsyncSession, args: argparse.Namespace) -> int:
    response = await session.with_raw_response(session.get_job, args.job_id)
    print_answer(response, args.json, _show_job)
    return EXIT_OK


def _show_job(job: FineTuningJob) -> None:
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


async def _jobs_wait(session: AsyncSession, args: argparse.Namespace) -> int:
    job_ids = list(dict.fromkeys(args.job_ids))
    code = await watch_jobs(session, job_ids, interval=args.interval, timeout=args.timeout)
    if code == EXIT_TIMEOUT:
        waited = "looked once" if args.timeout == 0 else f"waited {args.timeout:g} s"
        print(
            f"nebius-ft: jobs wait: not every job finished ({waited}, --timeout)", file=sys.stderr
        )
    return code

"""``nebius-ft fake serve``: the shipped fake Token Factory, for other programs' tests.

Serves ``nebius_ft_async.testing.FakeTokenFactory`` until SIGINT or SIGTERM (then stops
cleanly, exit code 0), after printing its URL and API key, one line each (or one JSON
object with ``--json``), so a test can start it as a subprocess and read where to connect::

    nebius-ft fake serve --port 8765 --jobs 3 &
    NEBIUS_BASE_URL=http://127.0.0.1:8765 NEBIUS_API_KEY=fake-nebius-key nebius-ft jobs list
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys

from ._shared import EXIT_OK, EXIT_USAGE, print_json

DEFAULT_FAKE_KEY = "fake-nebius-key"


def add_fake_command(
    commands: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    """Add ``fake serve`` to the subcommands of ``nebius-ft``."""
    fake = commands.add_parser(
        "fake", help="serve a fake Token Factory for tests", parents=[common]
    )
    actions = fake.add_subparsers(dest="action", required=True, metavar="ACTION")
    serve = actions.add_parser(
        "serve",
        parents=[common],
        help="serve the fake until interrupted, printing its URL and API key",
        description="Serve the fake fine-tuning API (nebius_ft_async.testing.FakeTokenFactory) "
        "until SIGINT or SIGTERM. Its API key is --api-key if given, else "
        f"{DEFAULT_FAKE_KEY!r}.",
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on")
    serve.add_argument(
        "--port", type=_port, default=0, help="port to listen on (default: a free one)"
    )
    serve.add_argument(
        "--jobs", type=_count, default=0, metavar="N", help="script N jobs to start with"
    )
    serve.add_argument(
        "--rate-limit",
        type=_rate,
        metavar="R",
        help="answer 429 past R requests a second (a token bucket, as the fake documents)",
    )
    serve.add_argument(
        "--json", action="store_true", help='print {"url": ..., "api_key": ...} on one line'
    )
    serve.set_defaults(start=run_fake_serve)


def run_fake_serve(args: argparse.Namespace) -> int:
    """Run ``fake serve``; the exit code."""
    return asyncio.run(_serve(args))


async def _serve(args: argparse.Namespace) -> int:
    from ..testing import FakeTokenFactory

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signal_number in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signal_number, stop.set)
    fake = FakeTokenFactory(
        api_key=args.api_key or DEFAULT_FAKE_KEY,
        host=args.host,
        port=args.port,
        rate_limit=args.rate_limit,
    )
    try:
        await fake.start()
    except OSError as error:
        print(
            f"nebius-ft: cannot listen on {args.host}:{args.port}: {error.strerror or error}",
            file=sys.stderr,
        )
        return EXIT_USAGE
    try:
        if args.jobs:
            fake.add_jobs(args.jobs)
        if args.json:
            print_json({"url": fake.url, "api_key": fake.api_key})
        else:
            print(fake.url)
            print(fake.api_key, flush=True)
        await stop.wait()
    finally:
        await fake.stop()
    return EXIT_OK


def _port(text: str) -> int:
    """An argparse type: a TCP port, 0 (any free one) to 65535."""
    try:
        port = int(text)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"must be a port from 0 to 65535, got {text!r}")
    return port


def _count(text: str) -> int:
    """An argparse type: a whole number, 0 or more."""
    try:
        count = int(text)
    except ValueError:
        count = -1
    if count < 0:
        raise argparse.ArgumentTypeError(f"must be a whole number, 0 or more, got {text!r}")
    return count


def _rate(text: str) -> float:
    """An argparse type: requests a second, a finite number above 0."""
    try:
        rate = float(text)
    except ValueError:
        rate = 0.0
    if not 0 < rate < float("inf"):
        raise argparse.ArgumentTypeError(
            f"must be a finite number of requests a second above 0, got {text!r}"
        )
    return rate

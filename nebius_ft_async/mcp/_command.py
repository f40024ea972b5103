"""The ``nebius-ft mcp`` command: its flags and its entry point. No MCP SDK is needed to
parse them; ``_server`` (which loads it) is imported only when the server starts."""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from .._errors import ConfigurationError
from ._options import ServerOptions


def add_command(commands: Any, common: argparse.ArgumentParser) -> None:
    """Add ``mcp`` to the ``nebius-ft`` subcommands (``commands`` from ``add_subparsers``;
    ``common`` holds the options every command shares)."""
    parser: argparse.ArgumentParser = commands.add_parser(
        "mcp",
        parents=[common],
        help="serve the fine-tuning workflow to agents over MCP (stdio)",
        description="An MCP server on stdin/stdout: tools to list, get, wait for, cancel and "
        "create fine-tuning jobs, check and upload data files, and deploy, wait for, list "
        "and delete custom models. Creating, uploading and deploying are off unless allowed "
        "below.",
    )
    parser.add_argument(
        "--allow-create",
        action="store_true",
        help="let create_job start jobs, which costs money (dry runs are always allowed)",
    )
    parser.add_argument(
        "--allow-upload",
        action="store_true",
        help="let upload_file send files from under --root",
    )
    parser.add_argument(
        "--allow-deploy",
        action="store_true",
        help="let deploy_checkpoint deploy custom models, which costs money, and delete_model "
        "delete them (dry runs are always allowed)",
    )
    parser.add_argument(
        "--root",
        metavar="DIR",
        help="the only directory file tools (upload_file, check_data_file) may read "
        "(symlinks resolved)",
    )
    parser.set_defaults(start=start_command)


def start_command(args: argparse.Namespace) -> int:
    """The command's entry point (it makes its own session): serve until the client leaves."""
    return asyncio.run(run_command(args))


async def run_command(args: argparse.Namespace) -> int:
    """Serve MCP on stdin/stdout until the client closes it; returns the exit code."""
    options = ServerOptions.checked(
        allow_create=args.allow_create,
        allow_upload=args.allow_upload,
        root=args.root,
        allow_deploy=args.allow_deploy,
    )
    try:
        from ._server import serve_stdio  # the MCP SDK is loaded only here
    except ModuleNotFoundError as error:
        if (error.name or "").partition(".")[0] not in ("mcp", "mcp_types"):
            raise
        raise ConfigurationError(
            "nebius-ft mcp needs the MCP SDK: pip install 'nebius-ft-async[mcp]'"
        ) from error
    await serve_stdio(options, api_key=args.api_key, base_url=args.base_url)
    return 0

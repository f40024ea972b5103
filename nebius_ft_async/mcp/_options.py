"""The ``mcp`` subcommand's options, and its entry point; no MCP SDK needed to parse them."""

from __future__ import annotations

import argparse
import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .._errors import ConfigurationError


@dataclass(frozen=True)
class ServerOptions:
    """What the MCP server may do beyond reading.

    ``allow_create`` lets ``create_job`` start jobs, ``allow_deploy`` lets
    ``deploy_checkpoint`` deploy models and ``delete_model`` delete them (a dry run is always
    allowed); ``allow_upload`` lets ``upload_file`` send files, which must lie under ``root``
    (a resolved directory), the only place ``check_data_file`` reads too.
    """

    allow_create: bool = False
    allow_upload: bool = False
    root: Path | None = None
    allow_deploy: bool = False

    @classmethod
    def checked(
        cls,
        *,
        allow_create: bool,
        allow_upload: bool,
        root: str | Path | None,
        allow_deploy: bool = False,
    ) -> ServerOptions:
        """Options from user input: ``root`` must be an existing directory, and uploads need
        one. Raises ``ConfigurationError`` naming the flag."""
        resolved = None
        if root is not None:
            resolved = Path(root).expanduser().resolve()
            if not resolved.is_dir():
                raise ConfigurationError(f"--root must be an existing directory, got {root}")
        if allow_upload and resolved is None:
            raise ConfigurationError(
                "--allow-upload needs --root DIR: the directory files may be uploaded from"
            )
        return cls(
            allow_create=allow_create,
            allow_upload=allow_upload,
            root=resolved,
            allow_deploy=allow_deploy,
        )


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

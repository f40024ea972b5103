"""``nebius-ft models deploy|list|get|delete|wait``: from a fine-tuned checkpoint to a served
model.

``deploy`` takes its adapter from a job's checkpoint (``--job``, its last one unless
``--checkpoint`` says which, chosen as ``plan_model_from_checkpoint`` chooses it), from an
archive uploaded first (``--archive``, with a progress bar on a terminal) or from Hugging
Face (``--hf``). Like ``jobs create`` it shows what it will send and asks on a terminal,
refuses without ``--yes`` when stdin is not one, and with ``--dry-run`` sends nothing.
``deploy --wait`` and ``wait`` exit 0 once the model is active and 1 if it ends in error
(with the server's ``status_reason``); ``wait --timeout`` exits 124. Names are those the
server gave, short or full (``vendor/...``): the library addresses either.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .._custom_models import hf_source
from .._errors import ModelDeploymentError, WaitTimeout
from .._models import CustomModel
from .._requests import CustomModelRequest, check_custom_model_request, encode_request
from .._routes import CREATE_MODEL, UPLOAD_MODEL_ARCHIVE
from .._session import AsyncSession
from ._display import when_text
from ._shared import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    confirm,
    json_option,
    print_answer,
    print_json,
    print_raw,
    print_rows,
    print_table,
    project_option,
    project_options,
    seconds,
    size_text,
    size_to_upload,
    timeout_option,
    transfer_bar,
)
from ._wait import EXIT_TIMEOUT


def add_models_command(
    commands: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    """Add ``models`` and its actions to the command line."""
    group = commands.add_parser(
        "models", parents=[common], help="deploy, list, get, delete or wait for custom models"
    )
    actions = group.add_subparsers(dest="action", required=True, metavar="ACTION")
    _add_deploy(actions, common)

    listing = actions.add_parser("list", parents=[common], help="list custom models")
    project_option(listing, "list the models of this AI Studio project")
    json_option(listing, "one model per line")
    timeout_option(listing)
    listing.set_defaults(run=models_list)

    get = actions.add_parser("get", parents=[common], help="show a custom model")
    get.add_argument("name", help="the name the server gave it, short or vendor/full")
    json_option(get, "the model")
    timeout_option(get)
    get.set_defaults(run=models_get)

    delete = actions.add_parser("delete", parents=[common], help="delete a custom model")
    delete.add_argument("name", help="the name the server gave it, short or vendor/full")
    delete.add_argument("--yes", action="store_true", help="delete without asking")
    json_option(delete, "the deleted model")
    timeout_option(delete)
    delete.set_defaults(run=models_delete)

    wait = actions.add_parser("wait", parents=[common], help="wait until a model is active")
    wait.add_argument("name", help="the name the server gave it, short or vendor/full")
    wait.add_argument(
        "--timeout",
        type=seconds,
        metavar="SECONDS",
        help="give up after this many seconds (exit code 124)",
    )
    _interval_option(wait, "seconds between polls (at least 1 against a remote API)")
    json_option(wait, "the model once active")
    wait.set_defaults(run=models_wait, bounded=False)


def _add_deploy(
    actions: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    deploy = actions.add_parser(
        "deploy", parents=[common], help="deploy a LoRA adapter as a custom model"
    )
    deploy.add_argument("--name", required=True, help="the model's name (the server adds to it)")
    source = deploy.add_mutually_exclusive_group(required=True)
    source.add_argument("--job", metavar="JOB_ID", help="deploy a checkpoint of this job")
    source.add_argument(
        "--archive", metavar="PATH", help="upload this adapter archive (.zip) and deploy it"
    )
    source.add_argument(
        "--hf", metavar="REPO", help="deploy a Hugging Face repository (org/name or its URL)"
    )
    deploy.add_argument(
        "--checkpoint",
        metavar="CHECKPOINT_ID",
        help="with --job: the checkpoint to deploy (default: the one at the highest step)",
    )
    deploy.add_argument(
        "--base-model",
        metavar="MODEL",
        help="the model the adapter belongs to (default with --job: the job's model)",
    )
    deploy.add_argument("--description", help="a description of the model")
    project_option(deploy, "deploy into this AI Studio project")
    deploy.add_argument("--yes", action="store_true", help="deploy without asking")
    deploy.add_argument(
        "--dry-run", action="store_true", help="print the request body; send nothing"
    )
    deploy.add_argument("--wait", action="store_true", help="then wait until the model is active")
    _interval_option(deploy, "with --wait: seconds between polls (at least 1 against a remote API)")
    json_option(deploy, "the created model (and with --wait, the model once active)")
    timeout_option(deploy)
    deploy.set_defaults(run=models_deploy)


def _interval_option(parser: argparse.ArgumentParser, help: str) -> None:
    parser.add_argument("--interval", type=seconds, default=5.0, metavar="SECONDS", help=help)


async def _planned(session: AsyncSession, args: argparse.Namespace) -> CustomModelRequest:
    """The body of the create, as it will be sent; for an archive, its ``source`` stands for
    the id the upload will give it."""
    if args.checkpoint is not None and args.job is None:
        raise ValueError("--checkpoint needs --job: it names a checkpoint of that job")
    if args.job is not None:
        return await session.plan_model_from_checkpoint(
            args.job,
            name=args.name,
            checkpoint=args.checkpoint,
            base_model=args.base_model,
            description=args.description,
        )
    if args.base_model is None:
        given = "--archive" if args.archive is not None else "--hf"
        raise ValueError(f"--base-model is required with {given}: the model the adapter is for")
    source = hf_source(args.hf) if args.hf is not None else f"<id of {args.archive} once uploaded>"
    request = CustomModelRequest(
        name=args.name, base_model=args.base_model, source=source, description=args.description
    )
    check_custom_model_request(request)
    return request


async def models_deploy(session: AsyncSession, args: argparse.Namespace) -> int:
    """Run ``models deploy``; the exit code."""
    archive = None if args.archive is None else Path(args.archive)
    size = None if archive is None else await size_to_upload(archive)
    if archive is not None and size is None:
        return EXIT_USAGE
    request = await _planned(session, args)
    shown = encode_request(request).decode()
    if args.dry_run:
        print(shown, flush=True)
        return EXIT_OK
    if not args.yes and sys.stdin.isatty():
        if archive is not None and size is not None:
            upload = f"{UPLOAD_MODEL_ARCHIVE.method} {UPLOAD_MODEL_ARCHIVE.template}"
            print(f"{upload} {archive} ({size_text(size)})", file=sys.stderr)
        print(f"{CREATE_MODEL.method} {CREATE_MODEL.template} {shown}", file=sys.stderr)
    if not confirm(
        "Deploy this model?",
        yes=args.yes,
        refusal="models deploy: no model deployed without confirmation",
        declined="not deployed",
    ):
        return EXIT_FAILED
    source = request.source
    if archive is not None:
        with transfer_bar(f"uploading {archive.name}") as on_progress:
            uploaded = await session.upload_model_archive(
                archive, on_progress=on_progress, **project_options(args)
            )
        source = uploaded.id
    response = await session.with_raw_response(
        session.create_model,
        name=request.name,
        base_model=request.base_model,
        source=source,
        description=request.description,
        **project_options(args),
    )
    model = response.parse()
    if args.json:
        print_raw(response)
    else:
        print(f"created {model.name} ({model.status or 'no status'})", flush=True)
    if not args.wait:
        return EXIT_OK
    return await _wait(session, model.name, args, timeout=None)


async def _wait(
    session: AsyncSession, name: str, args: argparse.Namespace, *, timeout: float | None
) -> int:
    """Wait for a model, a line for each status it shows (unless ``--json``): 0 once active,
    1 if it ends in error (the server's reason on stderr), 124 at ``timeout``."""

    def on_update(model: CustomModel) -> None:
        if not args.json:
            reason = f": {model.status_reason}" if model.status_reason else ""
            print(f"{model.name} {model.status or 'no status'}{reason}", flush=True)

    try:
        response = await session.with_raw_response(
            session.wait_for_model,
            name,
            poll_interval=args.interval,
            timeout=timeout,
            on_update=on_update,
        )
    except ModelDeploymentError as error:
        reason = error.status_reason or "no reason given"
        print(
            f"nebius-ft: model {error.name} is {error.model.status}, not active: {reason}",
            file=sys.stderr,
        )
        return EXIT_FAILED
    except WaitTimeout as error:
        print(f"nebius-ft: models wait: {error} (--timeout)", file=sys.stderr)
        return EXIT_TIMEOUT
    if args.json:
        print_raw(response)
    return EXIT_OK


async def models_wait(session: AsyncSession, args: argparse.Namespace) -> int:
    """Run ``models wait``; the exit code."""
    return await _wait(session, args.name, args, timeout=args.timeout)


def _model_rows(model: CustomModel) -> list[tuple[str, str]]:
    rows = [
        ("name", model.name),
        ("status", str(model.status or "-")),
        ("base model", model.base_model or "-"),
        ("source", model.source or "-"),
        ("created", _created_text(model.created_at)),
    ]
    if model.description:
        rows.append(("description", model.description))
    if model.status_reason:
        rows.append(("reason", model.status_reason))
    return rows


def _created_text(created_at: int | str | None) -> str:
    """``created_at`` as a UTC time: the API sends unix seconds, or sometimes a string."""
    if isinstance(created_at, str):
        return created_at or "-"
    return when_text(created_at)


async def models_list(session: AsyncSession, args: argparse.Namespace) -> int:
    """Run ``models list``; the exit code."""
    response = await session.with_raw_response(session.list_models, **project_options(args))
    if args.json:
        sent = response.json()
        for item in sent if isinstance(sent, list) else []:
            print_json(item)
        return EXIT_OK
    rows = [
        [
            m.name,
            str(m.status or "-"),
            _created_text(m.created_at),
            m.base_model or "-",
            m.source or "-",
        ]
        for m in response.parse()
    ]
    print_table(rows, ["name", "status", "created (UTC)", "base model", "source"])
    return EXIT_OK


async def models_get(session: AsyncSession, args: argparse.Namespace) -> int:
    """Run ``models get``; the exit code."""
    response = await session.with_raw_response(session.get_model, args.name)
    print_answer(response, args.json, lambda model: print_rows(_model_rows(model)))
    return EXIT_OK


async def models_delete(session: AsyncSession, args: argparse.Namespace) -> int:
    """Run ``models delete``; the exit code."""
    if not confirm(
        f"Delete model {args.name}?",
        yes=args.yes,
        refusal=f"models delete: {args.name} not deleted without confirmation",
        declined="not deleted",
    ):
        return EXIT_FAILED
    response = await session.with_raw_response(session.delete_model, args.name)
    print_answer(
        response,
        args.json,
        lambda model: print(f"{model.name} {model.status or 'deleted'}", flush=True),
    )
    return EXIT_OK

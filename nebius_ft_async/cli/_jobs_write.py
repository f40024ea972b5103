"""``nebius-ft jobs create|list|cancel``: start, list and cancel fine-tuning jobs.

``create`` and ``cancel`` change something that costs money or work, so on a terminal they
show what they will do and ask first; ``--yes`` skips the question, and without a terminal
on stdin they refuse unless given ``--yes`` (exit code 2). ``create --dry-run`` prints the
request body and sends nothing.
"""

from __future__ import annotations

import argparse
import math
import sys
from typing import Any

from .._requests import FineTuningRequest, check_job_request, encode_request
from .._session import AsyncSession
from ._display import count_text, steps_text, when_text
from ._shared import (
    EXIT_FAILED,
    EXIT_OK,
    confirm,
    json_option,
    print_answer,
    print_json,
    print_raw,
    print_table,
    seconds,
    timeout_option,
    whole_number,
)
from ._wait import watch_jobs


def add_job_actions(
    actions: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    """Add ``create``, ``list`` and ``cancel`` to the actions of ``jobs``."""
    create = actions.add_parser("create", parents=[common], help="start a fine-tuning job")
    create.add_argument("--model", required=True, help="the base model to fine-tune")
    create.add_argument(
        "--training-file", required=True, metavar="FILE_ID", help="an uploaded file's id"
    )
    create.add_argument("--validation-file", metavar="FILE_ID", help="an uploaded file's id")
    create.add_argument("--suffix", help="added to the fine-tuned model's name")
    create.add_argument("--epochs", type=whole_number, help="training epochs (n_epochs)")
    create.add_argument(
        "--lora",
        action=argparse.BooleanOptionalAction,
        help="train a LoRA adapter, or (--no-lora) every weight",
    )
    create.add_argument("--learning-rate", type=_learning_rate, metavar="RATE")
    create.add_argument("--batch-size", type=whole_number, metavar="N")
    create.add_argument("--seed", type=int, help="random seed, for a repeatable run")
    create.add_argument(
        "--wait", action="store_true", help="then wait for the job, with live progress"
    )
    create.add_argument(
        "--interval",
        type=seconds,
        default=5.0,
        metavar="SECONDS",
        help="with --wait: seconds between polls (at least 1 against a remote API)",
    )
    create.add_argument("--yes", action="store_true", help="create without asking")
    create.add_argument(
        "--dry-run", action="store_true", help="print the request body; send nothing"
    )
    json_option(create, "the created job")
    timeout_option(create)
    create.set_defaults(run=jobs_create)

    listing = actions.add_parser("list", parents=[common], help="list jobs, newest first")
    listing.add_argument("--limit", type=whole_number, help="show at most this many jobs")
    json_option(listing, "one job per line")
    timeout_option(listing)
    listing.set_defaults(run=jobs_list)

    cancel = actions.add_parser("cancel", parents=[common], help="cancel a job")
    cancel.add_argument("job_id")
    cancel.add_argument("--yes", action="store_true", help="cancel without asking")
    json_option(cancel, "the cancelled job")
    timeout_option(cancel)
    cancel.set_defaults(run=jobs_cancel)


def _learning_rate(text: str) -> float:
    """An argparse type: a finite learning rate above 0."""
    try:
        rate = float(text)
    except ValueError:
        rate = 0.0
    if not 0 < rate < math.inf:
        raise argparse.ArgumentTypeError(f"must be a finite number above 0, got {text!r}")
    return rate


def job_request(args: argparse.Namespace) -> dict[str, Any]:
    """The keywords of ``create_job`` the arguments ask for: only the options given, so
    the server applies its own defaults to the rest."""
    hyperparameters = {
        name: value
        for name, value in (
            ("n_epochs", args.epochs),
            ("lora", args.lora),
            ("learning_rate", args.learning_rate),
            ("batch_size", args.batch_size),
        )
        if value is not None
    }
    request: dict[str, Any] = {"model": args.model, "training_file": args.training_file}
    for name in ("validation_file", "suffix", "seed"):
        if getattr(args, name) is not None:
            request[name] = getattr(args, name)
    if hyperparameters:
        request["hyperparameters"] = hyperparameters
    return request


async def jobs_create(session: AsyncSession, args: argparse.Namespace) -> int:
    """Run ``jobs create``; the exit code."""
    request = job_request(args)
    body = FineTuningRequest(**request)
    check_job_request(body)
    shown = encode_request(body).decode()
    if args.dry_run:
        print(shown, flush=True)
        return EXIT_OK
    if not args.yes and sys.stdin.isatty():
        print(f"POST /v1/fine_tuning/jobs {shown}", file=sys.stderr)
    if not confirm(
        "Create this fine-tuning job?",
        yes=args.yes,
        refusal="jobs create: no job created without confirmation",
        declined="not created",
    ):
        return EXIT_FAILED
    response = await session.with_raw_response(session.create_job, **request)
    job = response.parse()
    if args.json:
        print_raw(response)
    else:
        print(f"created {job.id} ({job.status})", flush=True)
    if not args.wait:
        return EXIT_OK
    return await watch_jobs(session, [job.id], interval=args.interval, timeout=None)


async def jobs_list(session: AsyncSession, args: argparse.Namespace) -> int:
    """Run ``jobs list``; the exit code."""
    response = await session.with_raw_response(session.list_jobs, limit=args.limit)
    if args.json:
        for item in response.json().get("data", []):
            print_json(item)
        return EXIT_OK
    rows = [
        [
            job.id,
            str(job.status),
            steps_text(job.trained_steps, job.total_steps),
            when_text(job.created_at),
            job.model,
            count_text(job.trained_tokens),
        ]
        for job in response.parse().data
    ]
    headers = ["id", "status", "steps", "created (UTC)", "model", "trained tokens"]
    print_table(rows, headers)
    return EXIT_OK


async def jobs_cancel(session: AsyncSession, args: argparse.Namespace) -> int:
    """Run ``jobs cancel``; the exit code."""
    if not confirm(
        f"Cancel job {args.job_id}?",
        yes=args.yes,
        refusal=f"jobs cancel: {args.job_id} not cancelled without confirmation",
        declined="not cancelled",
    ):
        return EXIT_FAILED
    response = await session.with_raw_response(session.cancel_job, args.job_id)
    print_answer(response, args.json, lambda job: print(f"{job.id} {job.status}", flush=True))
    return EXIT_OK

"""``nebius-ft events|checkpoints|operations results``: what a job reports and makes.

The lists are walked as the ``iter_*`` methods walk them (each item once, however the server
repeats itself or ignores the cursor), and ``events --follow`` follows as ``follow_events``
does, over pages that keep, next to each item's model, the JSON the server sent for it:
``--json`` prints that, one object per line, every field included.
"""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any, Generic, TypeVar

import msgspec

from .._calls import walk
from .._errors import APIError, APIStatusError
from .._models import DatasetFileResult, FineTuningCheckpoint, Page
from .._paging import DEFAULT_PAGE_SIZE
from .._polling import ListedItem, default_poll_timeout, follow_listed_events
from .._raw import RawResponse
from .._session import AsyncSession
from ._display import count_text, loss_text, when_text
from ._shared import (
    EXIT_OK,
    interval_option,
    json_option,
    print_json,
    print_raw,
    print_table,
    timeout_option,
)

ModelT = TypeVar("ModelT", bound=ListedItem)


class Sent(msgspec.Struct, Generic[ModelT]):
    """An item of a list: its model, and the JSON the server sent for it."""

    model: ModelT
    sent: Any

    @property
    def id(self) -> str:
        return self.model.id

    @property
    def created_at(self) -> int:
        return self.model.created_at


ListSent = Callable[..., Awaitable[Page[Sent[ModelT]]]]
"""A ``list_*`` method of the session whose pages keep what the server sent for each item."""


def add_read_commands(
    commands: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    """Add ``events``, ``checkpoints`` and ``operations results``."""
    events = commands.add_parser("events", parents=[common], help="a job's events")
    events.add_argument("job_id")
    events.add_argument("--follow", action="store_true", help="keep printing new events")
    interval_option(events)
    json_option(events, "one event per line")
    timeout_option(events)
    events.set_defaults(run=show_events)

    checkpoints = commands.add_parser("checkpoints", parents=[common], help="a job's checkpoints")
    checkpoints.add_argument("job_id")
    json_option(checkpoints, "one checkpoint per line")
    timeout_option(checkpoints)
    checkpoints.set_defaults(run=show_checkpoints)

    operations = commands.add_parser("operations", parents=[common], help="operation results")
    actions = operations.add_subparsers(dest="action", required=True, metavar="ACTION")
    results = actions.add_parser(
        "results", parents=[common], help="checkpoints or file an operation made"
    )
    results.add_argument("operation_id")
    json_option(results, "one checkpoint (or the file result) per line")
    timeout_option(results)
    results.set_defaults(run=show_operation_results)


def with_sent(page: Page[ModelT], response: RawResponse[Any]) -> Page[Sent[ModelT]]:
    """``page`` (what ``response`` parsed to), each item with the JSON sent for it."""
    sent = response.json().get("data") or []
    return Page(
        data=[Sent(model, raw) for model, raw in zip(page.data, sent, strict=True)],
        has_more=page.has_more,
        first_id=page.first_id,
        last_id=page.last_id,
    )


def keeping_sent(
    session: AsyncSession, list_page: Callable[..., Awaitable[Page[ModelT]]]
) -> ListSent[ModelT]:
    """``list_page`` (a ``list_*`` method of ``session``), its pages keeping what was sent."""

    async def list_sent(*args: Any, **kwargs: Any) -> Page[Sent[ModelT]]:
        response = await session.with_raw_response(list_page, *args, **kwargs)
        return with_sent(response.parse(), response)

    return list_sent


async def every_item(list_page: ListSent[ModelT]) -> list[Sent[ModelT]]:
    """Every item of a list, page after page, as ``iter_*`` walks it (``list_page`` is
    called with ``limit`` and ``after``)."""
    return [item async for item in walk(list_page, DEFAULT_PAGE_SIZE, None, None)]


async def show_events(session: AsyncSession, args: argparse.Namespace) -> int:
    """Run ``events``; the exit code."""
    list_events = keeping_sent(session, session.list_events)
    if args.follow:
        await _reachable(session, args.job_id, args.interval)
        followed = follow_listed_events(
            session, args.job_id, list_events, poll_interval=args.interval
        )
        async for event in followed:
            if args.json:
                print_json(event.sent)
            else:
                when = when_text(event.created_at)
                print(f"{when}  {event.model.level:<5}  {event.model.message}", flush=True)
        return EXIT_OK
    events = await every_item(partial(list_events, args.job_id))
    events.sort(key=lambda event: (event.created_at, event.id))
    if args.json:
        for event in events:
            print_json(event.sent)
        return EXIT_OK
    print_table(
        [[when_text(e.created_at), str(e.model.level), e.model.message] for e in events],
        ["time (UTC)", "level", "message"],
    )
    return EXIT_OK


async def _reachable(session: AsyncSession, job_id: str, interval: float) -> None:
    """Fail at once if the API cannot be reached or refuses the key, instead of polling.

    Other errors (a 404 for this job, a passing 5xx, a 429 pause) are left to the command,
    which reports them or rides them out.
    """
    try:
        await session.get_job(job_id, timeout=default_poll_timeout(interval))
    except APIStatusError as error:
        if error.status_code in (401, 403):
            raise


async def show_checkpoints(session: AsyncSession, args: argparse.Namespace) -> int:
    """Run ``checkpoints``; the exit code."""
    checkpoints = await every_item(
        partial(keeping_sent(session, session.list_checkpoints), args.job_id)
    )
    if args.json:
        for checkpoint in checkpoints:
            print_json(checkpoint.sent)
        return EXIT_OK
    print_table(
        [
            [
                c.id,
                count_text(c.model.step_number),
                loss_text(c.model.metrics.train_loss),
                loss_text(c.model.metrics.valid_loss),
                ", ".join(c.model.result_files) or "-",
            ]
            for c in checkpoints
        ],
        ["checkpoint", "step", "train loss", "valid loss", "result files"],
    )
    return EXIT_OK


async def show_operation_results(session: AsyncSession, args: argparse.Namespace) -> int:
    """Run ``operations results``; the exit code.

    The first answer tells a fine-tuning operation (a page of checkpoints, then the pages
    after it) from a dataset-to-file one (the file it wrote).
    """
    operation_id = args.operation_id
    first = await session.with_raw_response(session.get_operation_results, operation_id)
    result = first.parse()
    if isinstance(result, DatasetFileResult):
        if args.json:
            print_raw(first)
        else:
            print(f"output file: {result.file_id}")
        return EXIT_OK
    unread = [with_sent(result, first)]

    async def results_page(*, limit: int, after: str | None) -> Page[Sent[FineTuningCheckpoint]]:
        if unread:  # the walk starts with the page already here
            return unread.pop()
        response = await session.with_raw_response(
            session.get_operation_results, operation_id, limit=limit, after=after
        )
        page = response.parse()
        if isinstance(page, DatasetFileResult):
            raise APIError(
                f"{response.method} {response.path}: a later page of the results is a file "
                f"result ({page.file_id}), not checkpoints",
                method=response.method,
                path=response.path,
            )
        return with_sent(page, response)

    checkpoints = await every_item(results_page)
    if args.json:
        for checkpoint in checkpoints:
            print_json(checkpoint.sent)
        return EXIT_OK
    print_table(
        [
            [c.id, count_text(c.model.step_number), ", ".join(c.model.result_files) or "-"]
            for c in checkpoints
        ],
        ["checkpoint", "step", "result files"],
    )
    return EXIT_OK

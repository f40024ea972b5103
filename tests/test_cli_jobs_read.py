"""nebius-ft events|checkpoints|operations results --json: each item as the server sent it.

A local aiohttp app serves lists whose items carry fields the models do not declare and
numbers no float holds, in pages of its own size without ``first_id``/``last_id``, and,
when told to, ignoring the ``after`` cursor; the command runs as a subprocess against it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from aiohttp import web

from .cli_run import Result, nebius_ft
from .conftest import API_KEY, ServeAnswer, json_response
from .samples import checkpoint_body, event_body, job_body

pytestmark = pytest.mark.anyio


JOB = "ftjob-raw"
OPERATION = "op-raw"
EVENTS = f"/v1/fine_tuning/jobs/{JOB}/events"
CHECKPOINTS = f"/v1/fine_tuning/jobs/{JOB}/checkpoints"
RESULTS = f"/v1/operations/{OPERATION}/results"
BEYOND_FLOAT = 10**400  # a JSON number that no float holds: sent as 1 and 400 zeros
UNDECLARED = {"tags": {"team": "search", "nested": [1, {"deep": None}]}, "extra": BEYOND_FLOAT}


class ListServer:
    """Serves lists by path in pages of ``page_size`` (whatever ``limit`` asks), without
    cursors in the body; ``honors_after=False`` serves the first page to every request."""

    def __init__(self, *, page_size: int = 2, honors_after: bool = True) -> None:
        self.lists: dict[str, Any] = {}
        self.page_size = page_size
        self.honors_after = honors_after
        self.job_statuses = ["succeeded"]
        self.on_job_get: list[Callable[[], None]] = []
        self.afters: dict[str, list[str | None]] = {}

    async def __call__(self, request: web.Request) -> web.Response:
        if request.path == f"/v1/fine_tuning/jobs/{JOB}":
            return await self._job(request)
        assert request.path in (EVENTS, CHECKPOINTS, RESULTS), request.path
        return await self._list(request)

    async def _job(self, request: web.Request) -> web.Response:
        if self.on_job_get:
            self.on_job_get.pop(0)()
        status = self.job_statuses.pop(0) if len(self.job_statuses) > 1 else self.job_statuses[0]
        return json_response(job_body(JOB, status))

    async def _list(self, request: web.Request) -> web.Response:
        assert request.headers["Authorization"] == f"Bearer {API_KEY}"
        after = request.query.get("after")
        self.afters.setdefault(request.path, []).append(after)
        items = self.lists[request.path]
        if isinstance(items, dict):  # not a list: served as is
            return json_response(items)
        start = 0
        if after is not None and self.honors_after:
            start = [item["id"] for item in items].index(after) + 1
        chunk = items[start : start + self.page_size]
        more = start + self.page_size < len(items)
        return json_response({"object": "list", "data": chunk, "has_more": more})


async def run(serve: ServeAnswer, server: ListServer, *args: str) -> Result:
    result = await nebius_ft(*args, url=await serve(server), key=API_KEY)
    assert result.code == 0, result.err
    return result


def raw_event(index: int, created_at: int) -> dict[str, Any]:
    return (
        event_body(index, JOB, created_at=created_at, data={"step": index, "loss": BEYOND_FLOAT})
        | UNDECLARED
    )


def raw_checkpoint(index: int) -> dict[str, Any]:
    body = checkpoint_body(index, JOB) | UNDECLARED
    body["metrics"] = body["metrics"] | {"extra_metric": BEYOND_FLOAT, "train_loss": 0.1 + 0.2}
    return body


async def test_events_json_prints_every_page_as_sent_in_time_order(
    serve_answer: ServeAnswer,
) -> None:
    server = ListServer()
    events = [raw_event(i, created_at) for i, created_at in enumerate([30, 10, 20, 10, 40], 1)]
    server.lists[EVENTS] = events
    result = await run(serve_answer, server, "events", JOB, "--json")
    by_time = sorted(events, key=lambda event: (event["created_at"], event["id"]))
    assert result.json_lines() == by_time
    assert str(BEYOND_FLOAT) in result.out.splitlines()[0]  # the digits, not a float's
    assert server.afters[EVENTS] == [None, events[1]["id"], events[3]["id"]]


async def test_checkpoints_json_prints_every_page_as_sent_in_server_order(
    serve_answer: ServeAnswer,
) -> None:
    server = ListServer()
    checkpoints = [raw_checkpoint(i) for i in range(1, 6)]
    server.lists[CHECKPOINTS] = checkpoints
    result = await run(serve_answer, server, "checkpoints", JOB, "--json")
    assert result.json_lines() == checkpoints
    assert server.afters[CHECKPOINTS] == [None, checkpoints[1]["id"], checkpoints[3]["id"]]
    table = await run(serve_answer, server, "checkpoints", JOB)
    assert [line.split()[0] for line in table.out.splitlines()[1:]] == [
        c["id"] for c in checkpoints
    ]


async def test_operation_results_json_prints_every_page_as_sent(serve_answer: ServeAnswer) -> None:
    server = ListServer()
    checkpoints = [raw_checkpoint(i) for i in range(1, 6)]
    server.lists[RESULTS] = checkpoints
    result = await run(serve_answer, server, "operations", "results", OPERATION, "--json")
    assert result.json_lines() == checkpoints
    assert server.afters[RESULTS] == [None, checkpoints[1]["id"], checkpoints[3]["id"]]


async def test_a_file_result_is_printed_as_sent(serve_answer: ServeAnswer) -> None:
    server = ListServer()
    server.lists[RESULTS] = {"file_id": "file-out", "object": "dataset.file"} | UNDECLARED
    result = await run(serve_answer, server, "operations", "results", OPERATION, "--json")
    assert result.json_lines() == [server.lists[RESULTS]]
    shown = await run(serve_answer, server, "operations", "results", OPERATION)
    assert shown.out == "output file: file-out\n"


async def test_a_later_page_that_is_a_file_result_is_an_api_error(
    serve_answer: ServeAnswer,
) -> None:
    async def results(request: web.Request) -> web.Response:
        assert request.path == RESULTS
        if "after" in request.query:
            return json_response({"file_id": "file-out"})
        return json_response({"data": [raw_checkpoint(1)], "has_more": True})

    result = await nebius_ft(
        "operations", "results", OPERATION, "--json", url=await serve_answer(results), key=API_KEY
    )
    assert result.code == 1
    assert "a later page of the results is a file result (file-out)" in result.err
    assert "Traceback" not in result.err


@pytest.mark.parametrize(
    ("command", "path", "item"),
    [
        (("events", JOB), EVENTS, lambda i: raw_event(i, 100 - i)),
        (("checkpoints", JOB), CHECKPOINTS, raw_checkpoint),
        (("operations", "results", OPERATION), RESULTS, raw_checkpoint),
        (("events", JOB, "--follow", "--interval", "0.01"), EVENTS, lambda i: raw_event(i, i)),
    ],
    ids=["events", "checkpoints", "operation results", "events --follow"],
)
async def test_a_server_that_ignores_the_cursor_cannot_make_it_loop(
    serve_answer: ServeAnswer,
    command: tuple[str, ...],
    path: str,
    item: Callable[[int], dict[str, Any]],
) -> None:
    server = ListServer(honors_after=False)
    items = [item(i) for i in range(1, 4)]
    server.lists[path] = items
    result = await run(serve_answer, server, *command, "--json")
    first_page = items[: server.page_size]
    assert sorted(map(json.dumps, result.json_lines())) == sorted(map(json.dumps, first_page))
    assert len(server.afters[path]) <= 3


async def test_events_follow_json_prints_each_new_event_as_sent_once(
    serve_answer: ServeAnswer,
) -> None:
    server = ListServer()
    events = [raw_event(i, created_at) for i, created_at in enumerate([3, 1, 2], 1)]
    later = [raw_event(i, created_at) for i, created_at in enumerate([5, -1, 0], 4)]
    server.lists[EVENTS] = events
    server.job_statuses = ["running", "running", "succeeded"]
    # the job is got once to check the key, then once per round: new events come before
    # the third get, which says the job is over, so the second round drains them
    server.on_job_get = [lambda: None, lambda: None, lambda: events.extend(later)]
    result = await run(
        serve_answer, server, "events", JOB, "--follow", "--interval", "0.01", "--json"
    )
    in_rounds = sorted(events[:3], key=lambda e: e["created_at"]) + sorted(
        later, key=lambda e: e["created_at"]
    )
    assert result.json_lines() == in_rounds
    shown = await run(serve_answer, server, "events", JOB, "--follow", "--interval", "0.01")
    assert [line.split("  ")[-1].strip() for line in shown.out.splitlines()] == [
        e["message"] for e in sorted(events, key=lambda e: e["created_at"])
    ]

"""A local fine-tuning API for benchmarks, run in its own process on 127.0.0.1.

Serves realistic bodies: a full job, 100-item event and checkpoint pages. Each job runs for
``--polls-to-finish`` polls, then succeeds; ``GET /stats`` tells how many API requests it
saw. Prints the port on its first line and serves until killed; it stops by itself once the
process that started it is gone (checked every second: a busy machine can make a benchmark
run as long as it needs), or after ``--lifetime`` seconds if given.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections import defaultdict
from collections.abc import Awaitable, Callable
from pathlib import Path

import msgspec
from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.samples import checkpoint_body, event_body, job_body

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def build_app(polls_to_finish: int, events_total: int) -> web.Application:
    polls: defaultdict[str, int] = defaultdict(int)
    requests = [0]
    encode = msgspec.json.encode
    events = [event_body(i) for i in range(events_total)]
    event_ids = {event["id"]: index for index, event in enumerate(events)}
    checkpoint_page = encode(
        {"object": "list", "data": [checkpoint_body(i) for i in range(100)], "has_more": False}
    )

    async def get_job(request: web.Request) -> web.Response:
        job_id = request.match_info["job_id"]
        polls[job_id] += 1
        count = polls[job_id]
        if count >= polls_to_finish:
            body = job_body(job_id, status="succeeded", trained_steps=100)
        else:
            body = job_body(job_id, status="running", trained_steps=count * 100 // polls_to_finish)
        return web.Response(body=encode(body), content_type="application/json")

    async def list_events(request: web.Request) -> web.Response:
        limit = int(request.query.get("limit", 20))
        after = request.query.get("after")
        start = event_ids[after] + 1 if after in event_ids else 0
        chunk = events[start : start + limit]
        body = {"object": "list", "data": chunk, "has_more": start + limit < len(events)}
        return web.Response(body=encode(body), content_type="application/json")

    async def list_checkpoints(request: web.Request) -> web.Response:
        return web.Response(body=checkpoint_page, content_type="application/json")

    async def stats(request: web.Request) -> web.Response:
        return web.json_response({"requests": requests[0]})

    @web.middleware
    async def count(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path != "/stats":
            requests[0] += 1
        return await handler(request)

    app = web.Application(middlewares=[count])
    app.router.add_get("/stats", stats)
    app.router.add_get("/v1/fine_tuning/jobs/{job_id}", get_job)
    app.router.add_get("/v1/fine_tuning/jobs/{job_id}/events", list_events)
    app.router.add_get("/v1/fine_tuning/jobs/{job_id}/checkpoints", list_checkpoints)
    return app


async def serve(polls_to_finish: int, events_total: int, lifetime: float | None) -> None:
    runner = web.AppRunner(build_app(polls_to_finish, events_total), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, backlog=1024)
    await site.start()
    print(runner.addresses[0][1], flush=True)
    parent = os.getppid()
    try:
        async with asyncio.timeout(lifetime):
            while os.getppid() == parent:  # noqa: ASYNC110 (a parent gone is no event)
                await asyncio.sleep(1.0)
    except TimeoutError:
        pass
    finally:
        await runner.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--polls-to-finish", type=int, default=3)
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--lifetime", type=float, default=None)
    args = parser.parse_args()
    asyncio.run(serve(args.polls_to_finish, args.events, args.lifetime))


if __name__ == "__main__":
    main()

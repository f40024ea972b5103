"""Quick start against a small local server: no account and no network needed.

Run: python examples/local_quickstart.py

It serves one running job with 250 events and a few checkpoints on 127.0.0.1, then uses
AsyncSession exactly as against the real API: get the job, walk every event across pages,
list its checkpoints, and print the job as plain JSON.
"""

from __future__ import annotations

import asyncio

import msgspec
from aiohttp import web

from nebius_ft_async import AsyncSession

JOB = {
    "id": "ftjob-demo",
    "object": "fine_tuning.job",
    "created_at": 1767225600,
    "model": "meta-llama/Llama-3.1-8B-Instruct",
    "status": "running",
    "training_file": "file-train",
    "trained_steps": 60,
    "total_steps": 100,
    "method": {"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 2}}},
}
EVENTS = [
    {
        "id": f"ftevent-{i:04d}",
        "object": "fine_tuning.job.event",
        "created_at": 1767225600 + i,
        "level": "info",
        "message": f"step {i}: train_loss={2.0 / (i + 1):.3f}",
        "type": "metrics",
        "data": {"step": i, "train_loss": 2.0 / (i + 1)},
    }
    for i in range(250)
]
CHECKPOINTS = [
    {
        "id": f"ftckpt-{i}",
        "object": "fine_tuning.job.checkpoint",
        "created_at": 1767225600 + i,
        "fine_tuned_model_checkpoint": f"ft:llama:demo:step-{i * 20}",
        "fine_tuning_job_id": "ftjob-demo",
        "step_number": i * 20,
        "metrics": {"train_loss": 1.0 / (i + 1)},
    }
    for i in range(1, 4)
]


def page(items: list[dict[str, object]], request: web.Request) -> web.Response:
    limit = int(request.query.get("limit", 20))
    after = request.query.get("after")
    ids = [item["id"] for item in items]
    start = ids.index(after) + 1 if after in ids else 0
    chunk = items[start : start + limit]
    return web.json_response({"data": chunk, "has_more": start + limit < len(items)})


def local_api() -> web.Application:
    async def get_job(request: web.Request) -> web.Response:
        return web.json_response(JOB)

    async def events(request: web.Request) -> web.Response:
        return page(EVENTS, request)

    async def checkpoints(request: web.Request) -> web.Response:
        return page(CHECKPOINTS, request)

    app = web.Application()
    app.router.add_get("/v1/fine_tuning/jobs/{job_id}", get_job)
    app.router.add_get("/v1/fine_tuning/jobs/{job_id}/events", events)
    app.router.add_get("/v1/fine_tuning/jobs/{job_id}/checkpoints", checkpoints)
    return app


async def main() -> None:
    runner = web.AppRunner(local_api())
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        async with AsyncSession("demo-key", base_url=f"http://127.0.0.1:{port}") as session:
            job = await session.get_job("ftjob-demo")
            print(f"{job.id}: {job.status} ({job.trained_steps}/{job.total_steps} steps)")
            events = [event async for event in session.iter_events(job.id)]
            print(f"{len(events)} events; last: {events[-1].message}")
            async for checkpoint in session.iter_checkpoints(job.id):
                print(f"checkpoint {checkpoint.id} at step {checkpoint.step_number}")
            print(msgspec.json.encode(msgspec.to_builtins(job)).decode())
    finally:
        await runner.cleanup()


if __name__ == "__main__":
    asyncio.run(main())

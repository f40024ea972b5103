"""``nebius-ft demo``: simulated jobs on a local fake Token Factory, watched live."""

from __future__ import annotations

from ..testing import FakeTokenFactory
from ._wait import EXIT_JOB_FAILED, EXIT_OK, watch_jobs

RATE_LIMITED = "ftjob-demo-rate-limited"


async def run_demo(interval: float) -> int:
    """Five jobs: three succeed, one fails, one is rate limited on the way. About 10 s."""
    async with FakeTokenFactory() as fake:
        job_ids = [
            fake.add_job("ftjob-demo-llama-8b", running_steps=10, step_seconds=0.6),
            fake.add_job("ftjob-demo-qwen-7b", running_steps=12, step_seconds=0.5),
            fake.add_job("ftjob-demo-gemma-9b", running_steps=6, step_seconds=0.9),
            fake.add_job(
                "ftjob-demo-mistral-7b", running_steps=7, step_seconds=0.7, outcome="failed"
            ),
            fake.add_job(RATE_LIMITED, running_steps=8, step_seconds=0.7),
        ]
        fake.fail_next(429, times=4, retry_after=1, path=RATE_LIMITED)
        print(f"A fake Token Factory is serving at {fake.url}; no account, no network.")
        print("Watching 5 simulated fine-tuning jobs (one will fail, one gets rate limited):\n")
        async with fake.session() as session:
            code = await watch_jobs(session, job_ids, interval=interval, timeout=60)
        rate_limited = fake.requests.get(f"/v1/fine_tuning/jobs/{RATE_LIMITED}", 0)
        print(
            f"\nDone: 4 succeeded and 1 failed, as scripted; the rate-limited job was polled "
            f"{rate_limited} times, waiting out 4 answers of 429 with Retry-After."
        )
        print("Against the real API: export NEBIUS_API_KEY=... && nebius-ft jobs wait JOB_ID")
    return EXIT_OK if code in (EXIT_OK, EXIT_JOB_FAILED) else code

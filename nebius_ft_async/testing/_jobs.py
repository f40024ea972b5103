"""The jobs part of the fake: scripting jobs (``add_job``, ``add_jobs``) and the
``/v1/fine_tuning/jobs`` endpoints (jobs, their events and checkpoints)."""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Callable, Iterator, Sequence
from typing import TypeVar

from aiohttp import web

from .. import _routes as routes
from ._answers import Routes, error_answer, json_answer, list_page, not_found
from ._lifecycle import JobLifecycle
from ._requests import FINE_TUNING_REQUEST, checked_body, checked_query
from ._state import FakeJob, Outcome

_T = TypeVar("_T")
_MAX_JOBS_LIMIT = 100
"""The most jobs one list page holds, whatever ``limit`` asks (what the API is believed to do)."""


def _per_job(value: _T | Sequence[_T] | Callable[[int], _T], count: int, name: str) -> list[_T]:
    """``add_jobs``' per-job values: one for all, one each from a sequence, or ``value(index)``."""
    if callable(value):
        return [value(index) for index in range(count)]
    if isinstance(value, Sequence) and not isinstance(value, str):
        if len(value) != count:
            raise ValueError(f"{name} has {len(value)} values for {count} jobs")
        return list(value)
    return [value] * count


class JobsAPI(JobLifecycle):
    """Scripted jobs, and the API's job endpoints."""

    def _job_routes(self) -> Routes:
        return [
            (routes.LIST_JOBS, self._list_jobs),
            (routes.CREATE_JOB, self._create_job),
            (routes.GET_JOB, self._get_job),
            (routes.CANCEL_JOB, self._cancel_job),
            (routes.LIST_EVENTS, self._list_events),
            (routes.LIST_CHECKPOINTS, self._list_checkpoints),
            (routes.GET_CHECKPOINT, self._checkpoint_get),
        ]

    def add_job(
        self,
        job_id: str | None = None,
        *,
        model: str = "meta-llama/Llama-3.1-8B-Instruct",
        training_file: str = "file-training",
        outcome: Outcome = "succeeded",
        running_steps: int = 5,
        total_steps: int = 100,
        step_seconds: float | None = None,
        checkpoint_every: int = 2,
        finish_after: float | None = None,
        created_at: int | None = None,
    ) -> str:
        """Script a job and return its id.

        Each poll of ``GET /v1/fine_tuning/jobs/{id}`` (or list page that shows the job) sees
        the next step of its lifecycle:
        validating, queued, ``running_steps`` steps of training up to ``total_steps``, then
        ``outcome``. With ``step_seconds`` it moves one step per that many seconds instead;
        with ``finish_after`` its steps are spread evenly over that many seconds, and it has
        its ``outcome`` from exactly ``finish_after`` seconds after this call, however often
        it is polled. ``created_at`` (unix seconds, default now) is what the API says.
        """
        if step_seconds is not None and finish_after is not None:
            raise ValueError("give step_seconds or finish_after, not both")
        if finish_after is not None and not 0 <= finish_after < math.inf:
            raise ValueError(f"finish_after must be 0 or more seconds, not {finish_after!r}")
        job_id = job_id or f"ftjob-{next(self._ids):06d}"
        job = FakeJob(
            id=job_id,
            model=model,
            training_file=training_file,
            outcome=outcome,
            running_steps=max(1, running_steps),
            total_steps=total_steps,
            step_seconds=step_seconds,
            checkpoint_every=max(1, checkpoint_every),
            created_at=int(time.time()) if created_at is None else created_at,
            finish_after=finish_after,
        )
        self._keep(job)
        return job_id

    def add_jobs(
        self,
        count: int,
        *,
        finish_after: Sequence[float] | Callable[[int], float] | float | None = None,
        outcome: Sequence[Outcome] | Callable[[int], Outcome] | Outcome = "succeeded",
        created_at: Sequence[int] | Callable[[int], int] | int | None = None,
        model: str = "meta-llama/Llama-3.1-8B-Instruct",
        training_file: str = "file-training",
        running_steps: int = 5,
        total_steps: int = 100,
        checkpoint_every: int = 2,
    ) -> list[str]:
        """Script ``count`` jobs as ``add_job`` does and return their ids, in order.

        ``finish_after``, ``outcome`` and ``created_at`` are one value for every job, a
        sequence of ``count`` values, or a function of the job's index (0 to ``count - 1``).
        ``finish_after`` counts from this call. Cheap enough for 100,000 jobs.
        """
        if count < 0:
            raise ValueError(f"count must be 0 or more, not {count}")
        finishes = _per_job(finish_after, count, "finish_after")
        outcomes: list[Outcome] = _per_job(outcome, count, "outcome")
        now_unix = int(time.time())
        created = [now_unix if c is None else c for c in _per_job(created_at, count, "created_at")]
        if any(f is not None and not 0 <= f < math.inf for f in finishes):
            raise ValueError("every finish_after must be 0 or more seconds")
        now = time.monotonic()
        ids = [f"ftjob-{number:06d}" for number in itertools.islice(self._ids, count)]
        new = [job_id for job_id in ids if job_id not in self.jobs]
        first = len(self._created)
        self._positions.update({job_id: first + offset for offset, job_id in enumerate(new)})
        self._created.extend(new)
        if self._shuffled is not None:
            self._shuffled.extend(new)
        for index, job_id in enumerate(ids):
            self.jobs[job_id] = FakeJob(
                id=job_id,
                model=model,
                training_file=training_file,
                outcome=outcomes[index],
                running_steps=max(1, running_steps),
                total_steps=total_steps,
                step_seconds=None,
                checkpoint_every=max(1, checkpoint_every),
                created=now,
                created_at=created[index],
                finish_after=finishes[index],
            )
        return ids

    def _keep(self, job: FakeJob) -> None:
        if job.id not in self.jobs:  # a job added again under its id keeps its place
            self._positions[job.id] = len(self._created)
            self._created.append(job.id)
            if self._shuffled is not None:
                self._shuffled.add(job.id)
        self.jobs[job.id] = job

    def _job(self, request: web.Request) -> FakeJob:
        job = self.jobs.get(request.match_info["job_id"])
        if job is None:
            raise not_found(f"Job {request.match_info['job_id']} not found")
        return job

    async def _get_job(self, request: web.Request) -> web.Response:
        job = self._job(request)
        self._advance(job, polled=True)
        return json_answer(self._job_body(job))

    async def _list_jobs(self, request: web.Request) -> web.Response:
        query = checked_query(request, "list_jobs")
        limit = 20 if query["limit"] is None else query["limit"]  # the API's default
        limit = min(max(1, limit), _MAX_JOBS_LIMIT)
        after = self._job_ids_after(query["after"])
        ids = list(itertools.islice(after, limit + 1))  # one more tells whether there is more
        data = []
        for job_id in ids[:limit]:
            job = self.jobs[job_id]
            self._advance(job, polled=True)
            data.append(self._job_body(job))
        return json_answer({"object": "list", "data": data, "has_more": len(ids) > limit})

    def _job_ids_after(self, after: str | None) -> Iterator[str]:
        """Job ids in ``list_order``, from just after ``after`` (none if it is unknown)."""
        if after is not None and after not in self._positions:
            return iter(())
        if self._shuffled is not None:
            return self._shuffled.after(after)
        created = self._created
        if self.list_order == "oldest_first":
            start = 0 if after is None else self._positions[after] + 1
            return (created[index] for index in range(start, len(created)))
        end = len(created) if after is None else self._positions[after]
        return (created[index] for index in range(end - 1, -1, -1))

    async def _create_job(self, request: web.Request) -> web.Response:
        body = await checked_body(request, FINE_TUNING_REQUEST, "create_job")
        if body["training_file"] not in self.files:
            return error_answer(400, f"Training file {body['training_file']} not found")
        job_id = self.add_job(model=body["model"], training_file=body["training_file"])
        self.jobs[job_id].request = body
        return json_answer(self._job_body(self.jobs[job_id]))

    async def _cancel_job(self, request: web.Request) -> web.Response:
        job = self._job(request)
        self._advance(job, polled=False)
        if job.step >= job.final_step:
            return error_answer(
                400, f"Job {job.id} is already {job.status()} and cannot be cancelled"
            )
        job.cancelled_at = job.step
        self._record_step(job)
        return json_answer(self._job_body(job))

    async def _list_events(self, request: web.Request) -> web.Response:
        query = checked_query(request, "list_events")
        job = self._job(request)
        self._advance(job, polled=False)
        limit = 20 if query["limit"] is None else query["limit"]
        page = list_page(list(reversed(job.events)), limit, query["after"])  # newest first
        del page["first_id"], page["last_id"]
        return json_answer(page)

    async def _list_checkpoints(self, request: web.Request) -> web.Response:
        query = checked_query(request, "list_checkpoints")
        job = self._job(request)
        self._advance(job, polled=False)
        return json_answer(list_page(job.checkpoints, query["limit"], query["after"]))

    async def _checkpoint_get(self, request: web.Request) -> web.Response:
        job = self._job(request)
        for checkpoint in job.checkpoints:
            if checkpoint["id"] == request.match_info["checkpoint_id"]:
                return json_answer(checkpoint)
        return error_answer(404, "Checkpoint not found")

"""The operations part of the fake: ``/v1/operations``, where every job is also an
operation (``finetuning``) with its errors and results."""

from __future__ import annotations

import itertools
from typing import Any

from aiohttp import web

from .. import _routes as routes
from ._answers import Routes, json_answer, list_page, not_found
from ._lifecycle import JobLifecycle
from ._requests import checked_query
from ._state import FakeJob

_OPERATION_STATUS = {"validating_files": "queued", "queued": "queued", "running": "running"}


class OperationsAPI(JobLifecycle):
    """The API's operation endpoints, over the scripted jobs."""

    def _operation_routes(self) -> Routes:
        return [
            (routes.LIST_OPERATIONS, self._list_operations),
            (routes.GET_OPERATION, self._get_operation),
            (routes.GET_OPERATION_ERRORS, self._operation_errors),
            (routes.GET_OPERATION_RESULTS, self._operation_results),
        ]

    def _operation_body(self, job: FakeJob) -> dict[str, Any]:
        status = job.status()
        return {
            "id": job.id,
            "type": "finetuning",
            "status": _OPERATION_STATUS.get(status, status),
            "params": {"model": job.model},
            "src": [{"id": job.training_file, "version": "1"}],
            "dst": [],
            "created_at": job.created_at,
        }

    async def _list_operations(self, request: web.Request) -> web.Response:
        limit = checked_query(request, "list_operations")["limit"]  # 1 to 100, 100 if not given
        newest = itertools.islice(reversed(self._created), limit)
        operations = []
        for job_id in newest:
            job = self.jobs[job_id]
            self._advance(job, polled=False)
            operations.append(self._operation_body(job))
        return json_answer({"object": "list", "data": operations})

    def _operation(self, request: web.Request, *, polled: bool = False) -> FakeJob:
        job = self.jobs.get(request.match_info["operation_id"])
        if job is None:
            raise not_found("Operation not found")
        self._advance(job, polled=polled)
        return job

    async def _get_operation(self, request: web.Request) -> web.Response:
        return json_answer(self._operation_body(self._operation(request, polled=True)))

    async def _operation_errors(self, request: web.Request) -> web.Response:
        job = self._operation(request)
        errors = ["the training loss diverged"] if job.status() == "failed" else []
        return json_answer({"object": "list", "data": errors})

    async def _operation_results(self, request: web.Request) -> web.Response:
        query = checked_query(request, "operation_results")
        job = self._operation(request)
        limit = 10 if query["limit"] is None else query["limit"]
        return json_answer(list_page(job.checkpoints, limit, query["after"]))

"""A fake Token Factory for tests and demos: the fine-tuning API, in process, on 127.0.0.1.

::

    from nebius_ft_async.testing import FakeTokenFactory

    async with FakeTokenFactory() as fake:
        job_id = fake.add_job(outcome="failed")
        async with fake.session() as session:
            job = await session.wait_for_job(job_id, poll_interval=0.01)
            assert job.status == "failed"

It serves every endpoint the library calls, with bodies shaped like the API's (including
fields the library does not model), pages with ``after``/``limit`` as the API does, and checks
the bearer key. Jobs follow a scripted lifecycle, ``validating_files`` -> ``queued`` ->
``running`` (growing ``trained_steps``, a metrics event per step, a checkpoint now and then)
-> ``succeeded`` / ``failed`` / ``cancelled``, advanced one step per poll of the job or one
step per ``step_seconds``. Faults (429 with ``Retry-After``, 5xx, 404, a dropped connection)
are queued with ``fail_next``. This is a server, so it imports ``aiohttp.web``; the client's
request path stays in ``_session``.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Literal, Self

import msgspec
from aiohttp import BodyPartReader, web

from ._session import AsyncSession

__all__ = ["FakeJob", "FakeTokenFactory"]

Outcome = Literal["succeeded", "failed", "cancelled"]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

_encode = msgspec.json.Encoder().encode
_POLL_STEP_SECONDS = 30
"""How long a lifecycle step is said to take when jobs move per poll (for ETAs)."""


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        body=_encode(body), status=status, content_type="application/json", headers=headers
    )


def _error(status: int, detail: str, headers: dict[str, str] | None = None) -> web.Response:
    return _json({"detail": detail}, status=status, headers=headers)


_OPERATION_STATUS = {"validating_files": "queued", "queued": "queued", "running": "running"}


def _not_found(detail: str) -> web.HTTPNotFound:
    return web.HTTPNotFound(
        text=_encode({"detail": detail}).decode(), content_type="application/json"
    )


_WRITE_ONLY = frozenset({"api_key", "api_token", "password", "token"})


def _without_secrets(value: Any) -> Any:
    """What the API echoes of a request part: its write-only secrets left out."""
    if isinstance(value, dict):
        return {k: _without_secrets(v) for k, v in value.items() if k not in _WRITE_ONLY}
    if isinstance(value, list):
        return [_without_secrets(item) for item in value]
    return value


def _page(items: list[dict[str, Any]], request: web.Request, default_limit: int) -> dict[str, Any]:
    limit = max(1, int(request.query.get("limit", default_limit)))
    after = request.query.get("after")
    start = 0
    if after is not None:
        ids = [item["id"] for item in items]
        start = ids.index(after) + 1 if after in ids else len(items)
    chunk = items[start : start + limit]
    return {
        "object": "list",
        "data": chunk,
        "has_more": start + limit < len(items),
        "first_id": chunk[0]["id"] if chunk else None,
        "last_id": chunk[-1]["id"] if chunk else None,
    }


@dataclass
class FakeJob:
    """One scripted job. ``step`` is where it is in its lifecycle (-1: not yet started)."""

    id: str
    model: str
    training_file: str
    outcome: Outcome
    running_steps: int
    total_steps: int
    step_seconds: float | None
    checkpoint_every: int
    created: float = field(default_factory=time.monotonic)
    created_at: int = field(default_factory=lambda: int(time.time()))
    finished_at: int | None = None
    step: int = -1
    cancelled_at: int | None = None
    request: dict[str, Any] = field(default_factory=dict)
    """The body it was created with; the fields the API echoes come back from it."""
    events: list[dict[str, Any]] = field(default_factory=list)
    checkpoints: list[dict[str, Any]] = field(default_factory=list)

    @property
    def final_step(self) -> int:
        """The step at which the job is final (validating, queued, running steps, end)."""
        if self.cancelled_at is not None:
            return self.cancelled_at
        return 2 + self.running_steps

    def status(self) -> str:
        if self.step >= self.final_step:
            return "cancelled" if self.cancelled_at is not None else self.outcome
        return ("validating_files", "queued")[max(self.step, 0)] if self.step < 2 else "running"

    def trained_steps(self) -> int | None:
        running = min(self.step, self.final_step) - 1
        if running < 1:
            return None
        return min(self.total_steps, round(self.total_steps * running / self.running_steps))


class FakeTokenFactory:
    """The fine-tuning API in process, on 127.0.0.1 (a free port unless ``port`` is given).

    Use it as ``async with``; ``url`` and ``api_key`` say where and how to reach it, and
    ``session()`` gives an ``AsyncSession`` pointed at it. ``requests`` counts the API
    requests it has answered, by path.
    """

    def __init__(
        self, *, api_key: str = "fake-nebius-key", host: str = "127.0.0.1", port: int = 0
    ) -> None:
        self.api_key = api_key
        self.jobs: dict[str, FakeJob] = {}
        self.files: dict[str, dict[str, Any]] = {}
        self.file_contents: dict[str, bytes] = {}
        self.requests: dict[str, int] = {}
        self._host = host
        self._port = port
        self._faults: list[tuple[str | None, Handler]] = []
        self._ids = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def start(self) -> None:
        """Start serving; ``url`` is set once it listens."""
        self._runner = web.AppRunner(self._app(), access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._host, self._port)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.url = f"http://{host}:{port}"

    async def stop(self) -> None:
        """Stop serving and close every connection."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def session(self, **options: Any) -> AsyncSession:
        """An ``AsyncSession`` for this fake (``options`` go to the session as they are)."""
        return AsyncSession(self.api_key, base_url=self.url, **options)

    # -- scripting -------------------------------------------------------------------

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
    ) -> str:
        """Script a job and return its id.

        Each poll of ``GET /v1/fine_tuning/jobs/{id}`` sees the next step of its lifecycle
        (or, with ``step_seconds``, it moves one step per that many seconds): validating,
        queued, ``running_steps`` steps of training up to ``total_steps``, then ``outcome``.
        """
        job_id = job_id or f"ftjob-{next(self._ids):06d}"
        self.jobs[job_id] = FakeJob(
            id=job_id,
            model=model,
            training_file=training_file,
            outcome=outcome,
            running_steps=max(1, running_steps),
            total_steps=total_steps,
            step_seconds=step_seconds,
            checkpoint_every=max(1, checkpoint_every),
        )
        return job_id

    def fail_next(
        self,
        status: int | Literal["drop"] = 503,
        *,
        times: int = 1,
        retry_after: float | None = None,
        path: str | None = None,
    ) -> None:
        """Answer the next ``times`` requests (to paths containing ``path``, if given) with an
        error ``status`` (429 carries ``Retry-After`` when ``retry_after`` is set), or drop the
        connection without an answer."""

        async def fault(request: web.Request) -> web.StreamResponse:
            if status == "drop":
                if request.transport is not None:
                    request.transport.close()
                return web.Response()
            headers = None if retry_after is None else {"Retry-After": f"{retry_after:g}"}
            return _error(status, f"injected {status}", headers)

        self._faults.extend((path, fault) for _ in range(times))

    # -- the lifecycle ---------------------------------------------------------------

    def _advance(self, job: FakeJob, *, polled: bool) -> None:
        if job.step_seconds is not None:
            target = int((time.monotonic() - job.created) / job.step_seconds)
        else:
            target = job.step + 1 if polled else job.step
        while job.step < min(target, job.final_step):
            job.step += 1
            self._record_step(job)

    def _record_step(self, job: FakeJob) -> None:
        step = job.step
        when = int(time.time())
        if step >= job.final_step:
            job.finished_at = when
        status = job.status()
        if status == "validating_files":
            self._event(job, when, "info", "Validating training file", "message")
        elif status == "queued":
            self._event(job, when, "info", "Training file validated; job queued", "message")
        elif status == "running":
            trained = job.trained_steps() or 0
            loss = round(2.0 / (1 + step), 4)
            data = {"step": trained, "total_steps": job.total_steps, "train_loss": loss}
            message = f"Step {trained}/{job.total_steps}: training loss={loss}"
            self._event(job, when, "info", message, "metrics", data)
            if (step - 2) % job.checkpoint_every == 0:
                self._checkpoint(job, when, trained, loss)
        elif status == "failed":
            self._event(job, when, "error", "Job failed: the training loss diverged", "message")
        else:
            self._event(job, when, "info", f"Job {status}", "message")

    def _event(
        self,
        job: FakeJob,
        when: int,
        level: str,
        message: str,
        kind: str,
        data: dict[str, Any] | None = None,
    ) -> None:
        job.events.append(
            {
                "id": f"ftevent-{job.id}-{len(job.events) + 1:04d}",
                "object": "fine_tuning.job.event",
                "created_at": when,
                "level": level,
                "message": message,
                "type": kind,
                "data": data,
            }
        )

    def _checkpoint(self, job: FakeJob, when: int, trained: int, loss: float) -> None:
        file_id = f"file-{job.id}-ckpt-{trained}"
        self.files[file_id] = {
            "id": file_id,
            "object": "file",
            "bytes": 0,
            "created_at": when,
            "filename": f"adapter-step-{trained}.safetensors",
            "purpose": "fine-tune-results",
            "status": "processed",
        }
        self.file_contents[file_id] = f"weights of {job.id} at step {trained}\n".encode()
        self.files[file_id]["bytes"] = len(self.file_contents[file_id])
        job.checkpoints.append(
            {
                "id": f"ftckpt-{job.id}-{trained}",
                "object": "fine_tuning.job.checkpoint",
                "created_at": when,
                "fine_tuned_model_checkpoint": f"{job.model}:ft-{job.id}:ckpt-step-{trained}",
                "fine_tuning_job_id": job.id,
                "step_number": trained,
                "metrics": {"step": float(trained), "train_loss": loss, "valid_loss": None},
                "result_files": [file_id],
            }
        )

    def _job_body(self, job: FakeJob) -> dict[str, Any]:
        status = job.status()
        final = job.step >= job.final_step
        return {
            "id": job.id,
            "object": "fine_tuning.job",
            "created_at": job.created_at,
            "finished_at": job.finished_at,
            "model": job.model,
            "fine_tuned_model": f"{job.model}:ft-{job.id}" if status == "succeeded" else None,
            "organization_id": "org-fake",
            "status": status,
            "training_file": job.training_file,
            "validation_file": job.request.get("validation_file"),
            "result_files": [c["result_files"][0] for c in job.checkpoints] if final else [],
            "seed": job.request.get("seed") or 42,
            "suffix": job.request.get("suffix"),
            "trained_tokens": (job.trained_steps() or 0) * 4096 or None,
            "trained_steps": job.trained_steps(),
            "total_steps": job.total_steps,
            "estimated_finish": None if final else self._estimated_finish(job),
            "error": (
                {"code": "training_diverged", "message": "the training loss diverged"}
                if status == "failed"
                else None
            ),
            "hyperparameters": job.request.get("hyperparameters")
            or {"batch_size": 8, "learning_rate": 1e-05, "n_epochs": 3},
            "method": job.request.get("method")
            or {
                "type": "supervised",
                "supervised": {"hyperparameters": {"batch_size": 8, "n_epochs": 3}},
            },
            "integrations": _without_secrets(job.request.get("integrations") or []),
            "from_checkpoint": _without_secrets(job.request.get("from_checkpoint")),
            "tags": job.request.get("tags") or [],
            "user_provided_suffix": job.request.get("suffix"),
        }

    @staticmethod
    def _estimated_finish(job: FakeJob) -> int:
        step_seconds = job.step_seconds or _POLL_STEP_SECONDS
        return int(job.created_at + job.final_step * step_seconds)

    # -- the HTTP side ---------------------------------------------------------------

    def _app(self) -> web.Application:
        app = web.Application(middlewares=[self._middleware])
        routes = [
            ("GET", "/v1/fine_tuning/jobs", self._list_jobs),
            ("POST", "/v1/fine_tuning/jobs", self._create_job),
            ("GET", "/v1/fine_tuning/jobs/{job_id}", self._get_job),
            ("POST", "/v1/fine_tuning/jobs/{job_id}/cancel", self._cancel_job),
            ("GET", "/v1/fine_tuning/jobs/{job_id}/events", self._list_events),
            ("GET", "/v1/fine_tuning/jobs/{job_id}/checkpoints", self._list_checkpoints),
            (
                "GET",
                "/v1/fine_tuning/jobs/{job_id}/checkpoints/{checkpoint_id}",
                self._checkpoint_get,
            ),
            ("POST", "/v1/files", self._upload_file),
            ("GET", "/v1/files", self._list_files),
            ("GET", "/v1/files/{file_id}", self._get_file),
            ("GET", "/v1/files/{file_id}/content", self._file_content),
            ("GET", "/v1/operations", self._list_operations),
            ("GET", "/v1/operations/{operation_id}", self._get_operation),
            ("GET", "/v1/operations/{operation_id}/errors", self._operation_errors),
            ("GET", "/v1/operations/{operation_id}/results", self._operation_results),
        ]
        for method, path, handler in routes:
            app.router.add_route(method, path, handler)
        return app

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        self.requests[request.path] = self.requests.get(request.path, 0) + 1
        if request.headers.get("Authorization") != f"Bearer {self.api_key}":
            return _error(401, "Invalid or missing API key")
        for index, (path, fault) in enumerate(self._faults):
            if path is None or path in request.path:
                del self._faults[index]
                return await fault(request)
        return await handler(request)

    def _job(self, request: web.Request) -> FakeJob:
        job = self.jobs.get(request.match_info["job_id"])
        if job is None:
            raise _not_found(f"Job {request.match_info['job_id']} not found")
        return job

    async def _get_job(self, request: web.Request) -> web.Response:
        job = self._job(request)
        self._advance(job, polled=True)
        return _json(self._job_body(job))

    async def _list_jobs(self, request: web.Request) -> web.Response:
        for job in self.jobs.values():
            self._advance(job, polled=False)
        newest_first = [self._job_body(job) for job in reversed(self.jobs.values())]
        page = _page(newest_first, request, default_limit=20)
        del page["first_id"], page["last_id"]
        return _json(page)

    async def _create_job(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except ValueError:
            return _error(400, "Request body is not JSON")
        missing = [name for name in ("model", "training_file") if not body.get(name)]
        if missing:
            detail = [
                {"loc": ["body", name], "msg": "Field required", "type": "missing"}
                for name in missing
            ]
            return _json({"detail": detail}, status=422)
        if body["training_file"] not in self.files:
            return _error(400, f"Training file {body['training_file']} not found")
        job_id = self.add_job(model=body["model"], training_file=body["training_file"])
        self.jobs[job_id].request = body
        return _json(self._job_body(self.jobs[job_id]))

    async def _cancel_job(self, request: web.Request) -> web.Response:
        job = self._job(request)
        self._advance(job, polled=False)
        if job.step >= job.final_step:
            return _error(400, f"Job {job.id} is already {job.status()} and cannot be cancelled")
        job.cancelled_at = job.step
        self._record_step(job)
        return _json(self._job_body(job))

    async def _list_events(self, request: web.Request) -> web.Response:
        job = self._job(request)
        self._advance(job, polled=False)
        page = _page(list(reversed(job.events)), request, default_limit=20)  # newest first
        del page["first_id"], page["last_id"]
        return _json(page)

    async def _list_checkpoints(self, request: web.Request) -> web.Response:
        job = self._job(request)
        self._advance(job, polled=False)
        return _json(_page(job.checkpoints, request, default_limit=10))

    async def _checkpoint_get(self, request: web.Request) -> web.Response:
        job = self._job(request)
        for checkpoint in job.checkpoints:
            if checkpoint["id"] == request.match_info["checkpoint_id"]:
                return _json(checkpoint)
        return _error(404, "Checkpoint not found")

    async def _upload_file(self, request: web.Request) -> web.Response:
        purpose, filename, size = "fine-tune", "upload.jsonl", 0
        chunks: list[bytes] = []
        async for part in await request.multipart():
            if not isinstance(part, BodyPartReader):
                continue
            if part.name == "purpose":
                purpose = (await part.read()).decode()
            elif part.name == "file":
                filename = part.filename or filename
                while chunk := await part.read_chunk(1 << 16):
                    chunks.append(chunk)
                    size += len(chunk)
        file_id = f"file-{next(self._ids):06d}"
        self.file_contents[file_id] = b"".join(chunks)
        self.files[file_id] = {
            "id": file_id,
            "object": "file",
            "bytes": size,
            "created_at": int(time.time()),
            "filename": filename,
            "purpose": purpose,
            "status": "processed",
            "status_details": None,
        }
        return _json(self.files[file_id])

    async def _list_files(self, request: web.Request) -> web.Response:
        purpose = request.query.get("purpose")
        files = [f for f in self.files.values() if purpose in (None, f["purpose"])]
        limit = int(request.query.get("limit", 10))  # the API's default
        return _json({"object": "list", "data": files[:limit]})

    def _file(self, request: web.Request) -> str:
        file_id = request.match_info["file_id"]
        if file_id not in self.files:
            raise _not_found(f"File {file_id} not found")
        return file_id

    async def _get_file(self, request: web.Request) -> web.Response:
        return _json(self.files[self._file(request)])

    async def _file_content(self, request: web.Request) -> web.Response:
        content = self.file_contents[self._file(request)]
        return web.Response(body=content, content_type="application/octet-stream")

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
        operations = [self._operation_body(job) for job in reversed(self.jobs.values())]
        limit = int(request.query.get("limit", 100))
        return _json({"object": "list", "data": operations[:limit]})

    def _operation(self, request: web.Request, *, polled: bool = False) -> FakeJob:
        job = self.jobs.get(request.match_info["operation_id"])
        if job is None:
            raise _not_found("Operation not found")
        self._advance(job, polled=polled)
        return job

    async def _get_operation(self, request: web.Request) -> web.Response:
        return _json(self._operation_body(self._operation(request, polled=True)))

    async def _operation_errors(self, request: web.Request) -> web.Response:
        job = self._operation(request)
        errors = ["the training loss diverged"] if job.status() == "failed" else []
        return _json({"object": "list", "data": errors})

    async def _operation_results(self, request: web.Request) -> web.Response:
        return _json(_page(self._operation(request).checkpoints, request, default_limit=10))

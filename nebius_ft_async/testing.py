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
-> ``succeeded`` / ``failed`` / ``cancelled``, advanced one step each time the job is polled
or listed, one step per ``step_seconds``, or spread so that the job is final exactly
``finish_after`` seconds after it was added. Faults (429 with ``Retry-After``, 5xx, 404, a
dropped connection) are queued with ``fail_next``.

For monitors at scale: ``rate_limit`` puts a token bucket in front of the API (429 with
``Retry-After`` / ``retry-after-ms``, ``x-ratelimit-*`` headers on every answer);
``add_jobs`` scripts many jobs at once (100,000 in well under a few seconds), each with its
own ``finish_after``, ``outcome`` and ``created_at`` if wanted; a request costs O(page size)
however many jobs there are (jobs move only when served); and ``list_order`` picks the order
of ``GET /v1/fine_tuning/jobs``.

This is a server, so it imports ``aiohttp.web``; the client's request path stays in
``_session``.
"""

from __future__ import annotations

import bisect
import hashlib
import itertools
import math
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Literal, Self, TypeVar

import msgspec
from aiohttp import BodyPartReader, web

from ._session import AsyncSession

__all__ = ["FakeJob", "FakeTokenFactory"]

Outcome = Literal["succeeded", "failed", "cancelled"]
ListOrder = Literal["newest_first", "oldest_first", "shuffled"]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_T = TypeVar("_T")

_encode = msgspec.json.Encoder().encode
_POLL_STEP_SECONDS = 30
"""How long a lifecycle step is said to take when jobs move per poll (for ETAs)."""
_MAX_JOBS_LIMIT = 100
"""The most jobs one list page holds, whatever ``limit`` asks (what the API is believed to do)."""


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


def _per_job(value: _T | Sequence[_T] | Callable[[int], _T], count: int, name: str) -> list[_T]:
    """``add_jobs``' per-job values: one for all, one each from a sequence, or ``value(index)``."""
    if callable(value):
        return [value(index) for index in range(count)]
    if isinstance(value, Sequence) and not isinstance(value, str):
        if len(value) != count:
            raise ValueError(f"{name} has {len(value)} values for {count} jobs")
        return list(value)
    return [value] * count


def _seconds(value: float) -> str:
    """A duration the OpenAI way, in seconds rounded up to the millisecond: ``1.5s``, ``0s``."""
    return f"{math.ceil(value * 1000) / 1000:.3f}".rstrip("0").rstrip(".") + "s"


class _Bucket:
    """A token bucket: ``size`` tokens, refilled at ``rate`` a second, full at first."""

    def __init__(self, size: int, now: float) -> None:
        self.tokens = float(size)
        self.updated = now

    def take(self, rate: float, size: int, now: float) -> float:
        """Take a token and return 0, or return the seconds until one is there."""
        self.tokens = min(float(size), self.tokens + (now - self.updated) * rate)
        self.updated = now
        if self.tokens >= 1 - 1e-9:  # float slack: waiting the wait we gave always works
            self.tokens = max(0.0, self.tokens - 1)
            return 0.0
        return (1 - self.tokens) / rate

    def headers(self, rate: float, size: int) -> dict[str, str]:
        return {
            "x-ratelimit-limit-requests": str(size),
            "x-ratelimit-remaining-requests": str(int(self.tokens)),
            "x-ratelimit-reset-requests": _seconds((size - self.tokens) / rate),
        }


class _SortedIds:
    """Job ids in a fixed pseudo-random order: by a hash of the id, kept in sorted blocks so
    that adding one costs O(log n + block) and reading a page O(log n + page)."""

    _BLOCK = 512

    def __init__(self) -> None:
        self._blocks: list[list[tuple[bytes, str]]] = []
        self._lasts: list[tuple[bytes, str]] = []  # each block's last item, for bisecting

    @staticmethod
    def key(job_id: str) -> tuple[bytes, str]:
        digest = hashlib.blake2b(job_id.encode(), digest_size=8, person=b"fake-tf-order")
        return digest.digest(), job_id

    def add(self, job_id: str) -> None:
        item = self.key(job_id)
        if not self._blocks:
            self._blocks.append([item])
            self._lasts.append(item)
            return
        index = min(bisect.bisect_left(self._lasts, item), len(self._blocks) - 1)
        block = self._blocks[index]
        bisect.insort(block, item)
        if len(block) > 2 * self._BLOCK:
            halves = [block[: self._BLOCK], block[self._BLOCK :]]
            self._blocks[index : index + 1] = halves
            self._lasts[index : index + 1] = [half[-1] for half in halves]
        else:
            self._lasts[index] = block[-1]

    def extend(self, job_ids: Sequence[str]) -> None:
        """Add many at once: one sort of everything, O(n log n)."""
        items = sorted(
            [item for block in self._blocks for item in block]
            + [self.key(job_id) for job_id in job_ids]
        )
        self._blocks = [items[i : i + self._BLOCK] for i in range(0, len(items), self._BLOCK)]
        self._lasts = [block[-1] for block in self._blocks]

    def after(self, job_id: str | None) -> Iterator[str]:
        """The ids after ``job_id`` (all of them for ``None``), in order."""
        first, start = 0, 0
        if job_id is not None:
            item = self.key(job_id)
            first = bisect.bisect_right(self._lasts, item)
            if first < len(self._blocks):
                start = bisect.bisect_right(self._blocks[first], item)
        for index in range(first, len(self._blocks)):
            block = self._blocks[index]
            for position in range(start, len(block)):
                yield block[position][1]
            start = 0


@dataclass
class FakeJob:
    """One scripted job. ``step`` is where it is in its lifecycle (-1: not yet started).

    It moves only when the fake serves something of it (the job, its events, a list page
    holding it), so read it through the API rather than ``status()`` here. ``created`` and
    ``final_at`` are ``time.monotonic()`` times; ``created_at`` and ``finished_at`` are unix
    seconds.
    """

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
    finish_after: float | None = None
    final_at: float | None = None
    """When it is final: known from the start for a job on a clock (``finish_after`` or
    ``step_seconds``), set when it gets there for one moved by polls, and the moment of a
    cancel for a cancelled one."""

    def __post_init__(self) -> None:
        if self.final_at is None and self._on_a_clock:
            self.final_at = self._step_at(2 + self.running_steps)

    @property
    def _on_a_clock(self) -> bool:
        """Whether time moves it (``finish_after`` or ``step_seconds``) rather than polls."""
        return self.finish_after is not None or self.step_seconds is not None

    def _step_at(self, step: int) -> float:
        """When a job on a clock is scheduled to reach ``step`` (monotonic)."""
        steps = 2 + self.running_steps
        if self.finish_after is not None:
            if step >= steps:
                return self.created + self.finish_after
            return self.created + self.finish_after * step / steps
        assert self.step_seconds is not None
        return self.created + step * self.step_seconds

    def _clock_step(self, now: float) -> int:
        """The step a job on a clock has reached at ``now``."""
        steps = 2 + self.running_steps
        if now >= self._step_at(steps):
            return steps
        duration = self._step_at(steps) - self.created
        return min(steps - 1, int((now - self.created) * steps / duration))

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

    ``rate_limit`` (requests a second) puts a token bucket of ``rate_burst`` tokens (default
    ``max(1, round(rate_limit))``, full at start) in front of the API, one per API key. The
    order of checks: a request without the right key is answered 401 and draws nothing; then
    a fault queued with ``fail_next`` is served as scripted, draws nothing and gets no rate
    headers; then a request finding the bucket empty is answered 429 ``{"detail": "Rate
    limit exceeded"}`` with ``Retry-After`` (whole seconds, rounded up, at least 1) and
    ``retry-after-ms`` (milliseconds until a token is there, rounded up), and counted in
    ``rate_limited``. Every other answer (2xx, 4xx such as 404, those 429s) carries
    ``x-ratelimit-limit-requests`` (the bucket size), ``x-ratelimit-remaining-requests``
    (whole tokens left) and ``x-ratelimit-reset-requests`` (until the bucket is full, like
    ``1.5s``).

    ``list_order`` is the order of ``GET /v1/fine_tuning/jobs``: ``newest_first`` (creation
    order reversed, as the API does), ``oldest_first``, or ``shuffled``, a fixed pseudo-random
    order (by a hash of each id: the same on every run, and a job added later does not move
    the others, so paging with ``after`` sees every earlier job once). A page holds 20 jobs
    unless ``limit`` says otherwise, and at most 100: the cap the API is believed to have.
    """

    def __init__(
        self,
        *,
        api_key: str = "fake-nebius-key",
        host: str = "127.0.0.1",
        port: int = 0,
        rate_limit: float | None = None,
        rate_burst: int | None = None,
        list_order: ListOrder = "newest_first",
    ) -> None:
        if rate_limit is None and rate_burst is not None:
            raise ValueError("rate_burst needs a rate_limit")
        if rate_limit is not None and not 0 < rate_limit < math.inf:
            raise ValueError(f"rate_limit must be a positive number, not {rate_limit!r}")
        if rate_limit is not None and rate_burst is None:
            rate_burst = max(1, round(rate_limit))
        if rate_burst is not None and rate_burst < 1:
            raise ValueError(f"rate_burst must be at least 1, not {rate_burst!r}")
        if list_order not in ("newest_first", "oldest_first", "shuffled"):
            raise ValueError(f"unknown list_order {list_order!r}")
        self.api_key = api_key
        self.rate_limit = rate_limit
        self.rate_burst = rate_burst
        self.rate_limited = 0
        """429s answered by the rate limiter (not those queued with ``fail_next``)."""
        self.list_order: ListOrder = list_order
        self.jobs: dict[str, FakeJob] = {}
        self.files: dict[str, dict[str, Any]] = {}
        self.file_contents: dict[str, bytes] = {}
        self.requests: dict[str, int] = {}
        self._host = host
        self._port = port
        self._faults: list[tuple[str | None, Handler]] = []
        self._ids = itertools.count(1)
        self._buckets: dict[str, _Bucket] = {}
        self._created: list[str] = []  # job ids in the order they were added
        self._positions: dict[str, int] = {}  # job id -> index in _created
        self._shuffled = _SortedIds() if list_order == "shuffled" else None
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
        if job._on_a_clock:
            target = job._clock_step(time.monotonic())
        else:
            target = job.step + 1 if polled else job.step
        while job.step < min(target, job.final_step):
            job.step += 1
            self._record_step(job, job._step_at(job.step) if job._on_a_clock else None)

    def _record_step(self, job: FakeJob, at: float | None = None) -> None:
        """Record the step ``job`` has just reached, which it reached at ``at`` (monotonic;
        default now): its events, a checkpoint, ``finished_at`` and ``final_at``."""
        step = job.step
        now = time.monotonic()
        at = now if at is None else min(at, now)
        when = int(time.time() - (now - at))
        if step >= job.final_step:
            job.finished_at = when
            if job.final_at is None or job.final_at > at:  # polled there, or cancelled early
                job.final_at = at
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
        if job.final_at is not None:
            return int(time.time() + job.final_at - time.monotonic())
        return int(job.created_at + job.final_step * _POLL_STEP_SECONDS)

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
        authorization = request.headers.get("Authorization")
        if authorization != f"Bearer {self.api_key}":
            return _error(401, "Invalid or missing API key")
        for index, (path, fault) in enumerate(self._faults):
            if path is None or path in request.path:
                del self._faults[index]
                return await fault(request)
        if self.rate_limit is None or self.rate_burst is None:
            return await handler(request)
        rate, size, now = self.rate_limit, self.rate_burst, time.monotonic()
        bucket = self._buckets.get(authorization)
        if bucket is None:
            bucket = self._buckets[authorization] = _Bucket(size, now)
        wait = bucket.take(rate, size, now)
        headers = bucket.headers(rate, size)
        if wait > 0:
            self.rate_limited += 1
            headers["Retry-After"] = str(max(1, math.ceil(wait)))
            headers["retry-after-ms"] = str(math.ceil(wait * 1000))
            return _error(429, "Rate limit exceeded", headers)
        try:
            response = await handler(request)
        except web.HTTPException as error:  # the 404s
            error.headers.update(headers)
            raise
        if not response.prepared:
            response.headers.update(headers)
        return response

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
        try:
            limit = int(request.query.get("limit", 20))  # the API's default
        except ValueError:
            detail = [{"loc": ["query", "limit"], "msg": "not an integer", "type": "int_parsing"}]
            return _json({"detail": detail}, status=422)
        limit = min(max(1, limit), _MAX_JOBS_LIMIT)
        after = self._job_ids_after(request.query.get("after"))
        ids = list(itertools.islice(after, limit + 1))  # one more tells whether there is more
        data = []
        for job_id in ids[:limit]:
            job = self.jobs[job_id]
            self._advance(job, polled=True)
            data.append(self._job_body(job))
        return _json({"object": "list", "data": data, "has_more": len(ids) > limit})

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
        files = (f for f in self.files.values() if purpose in (None, f["purpose"]))
        limit = int(request.query.get("limit", 10))  # the API's default
        return _json({"object": "list", "data": list(itertools.islice(files, limit))})

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
        limit = int(request.query.get("limit", 100))
        newest = itertools.islice(reversed(self._created), max(0, limit))
        operations = []
        for job_id in newest:
            job = self.jobs[job_id]
            self._advance(job, polled=False)
            operations.append(self._operation_body(job))
        return _json({"object": "list", "data": operations})

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

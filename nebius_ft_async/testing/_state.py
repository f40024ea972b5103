"""What the fake holds: its scripted jobs and models, and ``FakeState``, the attributes
every part of its API reads and writes (``FakeTokenFactory.__init__`` sets them)."""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field
from typing import Any, Literal

from ._answers import Handler
from ._sorted_ids import SortedIds

Outcome = Literal["succeeded", "failed", "cancelled"]
ListOrder = Literal["newest_first", "oldest_first", "shuffled"]
ModelOutcome = Literal["active", "error"]


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
    """The body it was created with, as the API read it (values coerced, documented defaults
    filled in, undeclared fields dropped); the fields the API echoes come back from it."""
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


@dataclass
class FakeModel:
    """One custom model. It is ``validating`` when created and for its first
    ``validating_polls`` polls, then ``outcome``: ``active``, or ``error`` with
    ``status_reason``. Change ``outcome`` / ``status_reason`` of a created model (in
    ``fake.models``) to script how it ends."""

    name: str
    """The name the API gave it: full (``vendor/...-LoRa:name-abcd``) or short."""
    base_model: str
    source: str
    description: str | None = None
    outcome: ModelOutcome = "active"
    status_reason: str | None = None
    validating_polls: int = 2
    polls: int = 0
    created_at: int = field(default_factory=lambda: int(time.time()))

    @property
    def short_name(self) -> str:
        """What ``/v0/models/{name}`` also finds it by: the part after ``-LoRa:``."""
        return self.name.rpartition("-LoRa:")[2]

    def status(self) -> str:
        return "validating" if self.polls <= self.validating_polls else self.outcome


class FakeState:
    """The attributes of ``FakeTokenFactory`` that its parts (jobs, files, operations,
    custom models, datasets) share; each is documented where ``__init__`` sets it."""

    jobs: dict[str, FakeJob]
    files: dict[str, dict[str, Any]]
    file_contents: dict[str, bytes]
    list_order: ListOrder
    datasets: dict[str, dict[str, Any]]
    dataset_rows: dict[str, list[dict[str, Any]]]
    dataset_uploads: dict[str, dict[str, Any]]
    part_contents: dict[str, bytes]
    dataset_sources: dict[str, bytes]
    upload_completing_polls: int
    redirect_content: bool
    link_lifetime: float
    storage_url: str
    storage_requests: int
    models: dict[str, FakeModel]
    model_names: Literal["full", "short"]
    model_validating_polls: int
    _ids: itertools.count[int]
    _created: list[str]
    _positions: dict[str, int]
    _shuffled: SortedIds | None
    _file_scripts: dict[str, tuple[list[str], str | None]]
    _storage_faults: list[Handler]
    _signature: str

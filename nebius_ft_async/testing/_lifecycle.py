"""A job's scripted lifecycle, ``validating_files`` -> ``queued`` -> ``running`` ->
``succeeded`` / ``failed`` / ``cancelled``: the steps it takes when it is served, the events
and checkpoints each step records, and the job as the API shows it."""

from __future__ import annotations

import time
from typing import Any

from ._state import FakeJob, FakeState

_POLL_STEP_SECONDS = 30
"""How long a lifecycle step is said to take when jobs move per poll (for ETAs)."""

_WRITE_ONLY = frozenset({"api_key", "api_token", "password", "token"})


def _without_secrets(value: Any) -> Any:
    """What the API echoes of a request part: its write-only secrets left out."""
    if isinstance(value, dict):
        return {k: _without_secrets(v) for k, v in value.items() if k not in _WRITE_ONLY}
    if isinstance(value, list):
        return [_without_secrets(item) for item in value]
    return value


class JobLifecycle(FakeState):
    """Moves jobs on and shows them; the parts that serve jobs (jobs, operations) build on
    it."""

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

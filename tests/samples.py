"""Realistic API bodies, shaped like the spec, including fields the client does not model."""

from __future__ import annotations

from typing import Any


def job_body(
    job_id: str = "ftjob-abc123", status: str = "running", **overrides: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": job_id,
        "object": "fine_tuning.job",
        "created_at": 1767225600,
        "finished_at": None,
        "model": "meta-llama/Llama-3.1-8B-Instruct",
        "fine_tuned_model": None,
        "organization_id": "org-123",
        "status": status,
        "training_file": "file-train",
        "validation_file": "file-valid",
        "result_files": [],
        "seed": 42,
        "suffix": "support-bot",
        "trained_tokens": 120000,
        "trained_steps": 40,
        "total_steps": 100,
        "estimated_finish": 1767229200,
        "error": None,
        "hyperparameters": {
            "batch_size": 8,
            "learning_rate": 1e-05,
            "n_epochs": 3,
            "warmup_ratio": 0.0,
            "weight_decay": 0.0,
            "packing": True,
            "max_grad_norm": 1.0,
            "context_length": 8192,
            "lora": True,
            "lora_r": 16,
            "lora_alpha": 16,
            "lora_dropout": 0.05,
        },
        "method": {
            "type": "supervised",
            "supervised": {"hyperparameters": {"batch_size": 8, "n_epochs": 3, "lora": True}},
        },
        "integrations": [
            {"type": "wandb", "wandb": {"project": "ft", "name": "run-1", "tags": ["a"]}},
            {
                "type": "mlflow",
                "mlflow": {
                    "tracking_uri": "https://mlflow.example",
                    "experiment_name": "exp",
                    "run_name": None,
                },
            },
            {"type": "hf", "hf": {"output_repo_name": "me/model"}},
        ],
        "from_checkpoint": {"type": "hf", "repo": "me/base", "revision": "main"},
        "user_provided_suffix": "support-bot",
    }
    body.update(overrides)
    return body


def event_body(index: int, job_id: str = "ftjob-abc123", **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": f"ftevent-{index:05d}",
        "object": "fine_tuning.job.event",
        "created_at": 1767225600 + index,
        "level": "info",
        "message": f"Step {index}/100: training loss={1.0 / (index + 1):.4f}",
        "data": {"step": index, "train_loss": 1.0 / (index + 1), "total_steps": 100},
        "type": "metrics",
        "job_id": job_id,
    }
    body.update(overrides)
    return body


def checkpoint_body(index: int, job_id: str = "ftjob-abc123", **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": f"ftckpt-{index:05d}",
        "object": "fine_tuning.job.checkpoint",
        "created_at": 1767225600 + index,
        "fine_tuned_model_checkpoint": f"ft:llama:{job_id}:ckpt-step-{index * 10}",
        "fine_tuning_job_id": job_id,
        "step_number": index * 10,
        "metrics": {
            "step": float(index * 10),
            "train_loss": 0.5,
            "train_mean_token_accuracy": 0.8,
            "valid_loss": 0.6,
            "valid_mean_token_accuracy": 0.75,
            "full_valid_loss": None,
            "full_valid_mean_token_accuracy": None,
        },
        "result_files": [f"file-ckpt-{index}"],
    }
    body.update(overrides)
    return body

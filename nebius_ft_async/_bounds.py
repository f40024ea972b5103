"""The API's stated bounds on a job request, checked before anything is sent. Pure.

The tables copy the bounds of the API documents' ``SupervisedHParameters`` and
``SpecDraftHParameters`` schemas and the fields ``MlflowConfigRequest`` requires (a test
holds them to those documents). A value the API would refuse is refused here with the path
of the field, so a typo costs no round trip and no failed job.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import msgspec


@dataclass(frozen=True)
class Bound:
    """A number's range as the API states it: ``whole`` for integers; ``above`` /
    ``below`` for exclusive ends."""

    whole: bool
    minimum: float | None = None
    maximum: float | None = None
    above: float | None = None
    below: float | None = None

    def problem(self, value: Any) -> str | None:
        """Why ``value`` is out of bounds, or ``None``."""
        kind = "a whole number" if self.whole else "a number"
        if isinstance(value, bool) or not isinstance(value, int | float):
            return f"must be {kind}, got {value!r}"
        if self.whole and not isinstance(value, int):
            return f"must be {kind}, got {value!r}"
        if not math.isfinite(value):
            return f"must be a finite number, got {value!r}"
        ends = []
        if self.minimum is not None:
            ends.append(f"at least {self.minimum:g}")
        if self.above is not None:
            ends.append(f"above {self.above:g}")
        if self.maximum is not None:
            ends.append(f"at most {self.maximum:g}")
        if self.below is not None:
            ends.append(f"below {self.below:g}")
        low_ok = (self.minimum is None or value >= self.minimum) and (
            self.above is None or value > self.above
        )
        high_ok = (self.maximum is None or value <= self.maximum) and (
            self.below is None or value < self.below
        )
        if low_ok and high_ok:
            return None
        return f"must be {kind} {' and '.join(ends)}, got {value!r}"


_COMMON = {
    "batch_size": Bound(whole=True, minimum=1, maximum=64),
    "n_epochs": Bound(whole=True, minimum=1, maximum=20),
    "warmup_ratio": Bound(whole=False, minimum=0, maximum=1),
    "weight_decay": Bound(whole=False, minimum=0),
    "max_grad_norm": Bound(whole=False, above=0),
    "context_length": Bound(whole=True, minimum=8192, maximum=131072),
}

SUPERVISED_BOUNDS: Mapping[str, Bound] = {
    **_COMMON,
    "learning_rate": Bound(whole=False, minimum=0),
    "lora_r": Bound(whole=True, minimum=8, maximum=128),
    "lora_alpha": Bound(whole=True, minimum=8),
    "lora_dropout": Bound(whole=False, minimum=0, maximum=1),
}
"""``SupervisedHParameters``."""

SPEC_DRAFT_BOUNDS: Mapping[str, Bound] = {
    **_COMMON,
    "learning_rate": Bound(whole=False, above=0, below=1),
    "num_decoding_heads": Bound(whole=True, minimum=1, maximum=10),
}
"""``SpecDraftHParameters``."""

MLFLOW_REQUIRED = ("tracking_uri", "certificate_file", "username", "password")
"""Fields ``MlflowConfigRequest`` requires a string for (it requires ``experiment_name``
and ``run_name`` too, which may be null: they are always sent)."""


def check_hyperparameters(where: str, value: Any, bounds: Mapping[str, Bound]) -> None:
    """``ValueError`` naming ``where.field`` for the first value out of ``bounds``."""
    fields = _fields_of(value)
    if fields is None:
        return  # not an object: the server says what it makes of it
    for name, bound in bounds.items():
        if name in fields and fields[name] is not None:
            problem = bound.problem(fields[name])
            if problem is not None:
                raise ValueError(f"{where}.{name} {problem}")


def check_mlflow(where: str, value: Any) -> None:
    """``ValueError`` naming the first field ``MlflowConfigRequest`` requires and lacks."""
    fields = _fields_of(value)
    if fields is None:
        return
    for name in MLFLOW_REQUIRED:
        given = fields.get(name)
        if not isinstance(given, str) or not given:
            raise ValueError(f"{where}.{name} is required by the API: a non-empty string")


def _fields_of(value: Any) -> Mapping[str, Any] | None:
    if isinstance(value, msgspec.Struct):
        return {name: getattr(value, name) for name in value.__struct_fields__}
    if isinstance(value, Mapping):
        return value
    return None

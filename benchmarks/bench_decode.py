"""Decoding speed: this library's models against a plain msgspec Struct of the same shape.

Run: python benchmarks/bench_decode.py [--rounds N]
Prints the median time per decode of a full job for both, and their ratio.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import timeit
from pathlib import Path
from typing import Any

import msgspec

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from nebius_ft_async._models import job_decoder
from tests.samples import job_body


class RawHyperparameters(msgspec.Struct):
    batch_size: int = 8
    learning_rate: float = 1e-05
    n_epochs: int = 3
    warmup_ratio: float = 0.0
    weight_decay: float = 0.0
    packing: bool = True
    max_grad_norm: float = 1.0
    context_length: int = 8192
    lora: bool = False
    lora_r: int = 8
    lora_alpha: int = 8
    lora_dropout: float = 0.0


class RawJob(msgspec.Struct):
    id: str
    created_at: int
    model: str
    status: str
    training_file: str
    object: str = "fine_tuning.job"
    error: Any = None
    finished_at: int | None = None
    hyperparameters: RawHyperparameters | None = None
    method: Any = None
    integrations: Any = None
    from_checkpoint: Any = None
    organization_id: str = ""
    result_files: list[str] = []
    seed: int = 0
    suffix: str | None = None
    trained_tokens: int | None = None
    validation_file: str | None = None
    estimated_finish: int | None = None
    trained_steps: int | None = None
    total_steps: int | None = None


def median_seconds(function: Any, number: int, rounds: int) -> float:
    return statistics.median(timeit.repeat(function, number=number, repeat=rounds)) / number


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--number", type=int, default=20_000)
    args = parser.parse_args()
    body = msgspec.json.encode(job_body())
    raw_decoder = msgspec.json.Decoder(RawJob)
    ours = median_seconds(lambda: job_decoder.decode(body), args.number, args.rounds)
    raw = median_seconds(lambda: raw_decoder.decode(body), args.number, args.rounds)
    print("| decode a full job | µs per decode |")
    print("|---|---|")
    print(f"| nebius_ft_async | {ours * 1e6:.2f} |")
    print(f"| raw msgspec Struct | {raw * 1e6:.2f} |")
    print(f"| ratio | {ours / raw:.2f}x |")


if __name__ == "__main__":
    main()

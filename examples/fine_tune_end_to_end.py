"""The whole workflow: check and upload a training file, start a job, wait for it with
progress, list its checkpoints, download the last checkpoint's files, then deploy the best
checkpoint as a custom model and wait until it is active (ready to serve).

    python examples/fine_tune_end_to_end.py --fake                 # against a local fake API
    NEBIUS_API_KEY=... python examples/fine_tune_end_to_end.py train.jsonl --model MODEL

With ``--fake`` it starts ``nebius_ft_async.testing.FakeTokenFactory`` in process and, unless a
file is given, writes a small training file to a temporary folder; no account or network.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import tempfile
from pathlib import Path

from nebius_ft_async import (
    AsyncSession,
    FineTuningJob,
    FineTuningJobCheckpoint,
    SupervisedConfig,
    SupervisedHyperparameters,
    SupervisedMethod,
    check_data_file_async,
)
from nebius_ft_async.testing import FakeTokenFactory


def sample_training_file(folder: Path) -> Path:
    path = folder / "train.jsonl"
    with path.open("w") as file:
        for index in range(200):
            messages = [
                {"role": "user", "content": f"What is {index} + {index}?"},
                {"role": "assistant", "content": str(2 * index)},
            ]
            file.write(json.dumps({"messages": messages}) + "\n")
    return path


def best_checkpoint(checkpoints: list[FineTuningJobCheckpoint]) -> FineTuningJobCheckpoint:
    """The checkpoint with the lowest validation loss, else the lowest training loss, else
    the last one."""
    for loss in ("valid_loss", "train_loss"):
        scored = [
            (value, index)
            for index, checkpoint in enumerate(checkpoints)
            if (value := getattr(checkpoint.metrics, loss)) is not None and math.isfinite(value)
        ]
        if scored:
            return checkpoints[min(scored)[1]]
    return checkpoints[-1]


def show_progress(job: FineTuningJob) -> None:
    progress = "" if job.progress is None else f" {job.progress:.0%}"
    eta = "" if job.eta is None else f", expected at {job.eta:%H:%M:%S} UTC"
    print(f"  {job.id}: {job.status}{progress}{eta}")


async def fine_tune(
    session: AsyncSession, training_file: Path, model: str, output: Path, poll_interval: float
) -> int:
    report = await check_data_file_async(training_file)  # in a worker thread
    print(
        f"checked {training_file.name}: {report.examples} {report.format} examples, "
        f"about {report.approx_tokens:,} tokens"
    )
    for problem in report.problems:
        print(f"  line {problem.line}: {problem.severity}: {problem.reason}")
    if not report.ok:
        return 1
    uploaded = await session.upload_file(training_file)
    print(f"uploaded {uploaded.filename} ({uploaded.bytes} bytes) as {uploaded.id}")
    job = await session.create_job(
        model=model,
        training_file=uploaded.id,
        method=SupervisedMethod(
            supervised=SupervisedConfig(
                hyperparameters=SupervisedHyperparameters(n_epochs=2, lora=True, lora_r=16)
            )
        ),
        suffix="end-to-end-example",
    )
    print(f"created job {job.id}; waiting for it:")
    job = await session.wait_for_job(job.id, poll_interval=poll_interval, on_update=show_progress)
    if job.status != "succeeded":
        print(f"job {job.status}: {job.error.message if job.error else 'no error given'}")
        return 1
    checkpoints = [checkpoint async for checkpoint in session.iter_checkpoints(job.id)]
    for checkpoint in checkpoints:
        print(f"  checkpoint {checkpoint.id} at step {checkpoint.step_number}")
    files = checkpoints[-1].result_files if checkpoints else job.result_files
    paths = await session.download_files(files, output)
    for path in paths:
        print(f"downloaded {path} ({path.stat().st_size} bytes)")
    if not checkpoints:
        return 0
    best = best_checkpoint(checkpoints)
    deployed = await session.create_model_from_checkpoint(
        job, name="end-to-end-example", checkpoint=best
    )
    print(f"deploying checkpoint {best.id} as {deployed.name}; waiting until it is active")
    deployed = await session.wait_for_model(deployed.name, poll_interval=poll_interval)
    print(f"model {deployed.name} is {deployed.status}: use it as the model of a chat completion")
    return 0


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("training_file", nargs="?", type=Path)
    parser.add_argument("--model", default="meta-llama/Llama-3.1-8B-Instruct")
    parser.add_argument("--output", type=Path, default=Path("checkpoint-files"))
    parser.add_argument("--fake", action="store_true", help="run against a local fake API")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        if args.fake:
            training_file = args.training_file or sample_training_file(Path(scratch))
            async with FakeTokenFactory() as fake, fake.session() as session:
                return await fine_tune(session, training_file, args.model, args.output, 0.05)
        if args.training_file is None:
            parser.error("a training file is needed unless --fake is given")
        async with AsyncSession() as session:
            return await fine_tune(session, args.training_file, args.model, args.output, 10.0)


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))

"""The README's "From a checkpoint to a served model" sample runs as written, against the fake."""

from __future__ import annotations

import io
import re
import textwrap
import zipfile
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from nebius_ft_async.testing import FakeTokenFactory

pytestmark = pytest.mark.anyio

README = Path(__file__).resolve().parent.parent / "README.md"


def section_sample(heading: str) -> str:
    """The first python code block under ``heading``."""
    text = README.read_text()
    start = text.index(f"\n## {heading}\n")
    found = re.search(r"```python\n(.*?)```", text[start:], re.DOTALL)
    assert found is not None, heading
    return found.group(1)


def adapter_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("adapter_config.json", b'{"r": 16}')
        archive.writestr("adapter_model.safetensors", b"weights")
    return buffer.getvalue()


async def test_the_deploy_sample_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    sample = section_sample("From a checkpoint to a served model")
    code = "async def sample(job_id):\n" + textwrap.indent(sample, "    ")
    namespace: dict[str, object] = {}
    exec(compile(code, "README.md", "exec"), namespace)
    run = namespace["sample"]
    assert callable(run)

    (tmp_path / "adapter.zip").write_bytes(adapter_zip())
    monkeypatch.chdir(tmp_path)
    async with FakeTokenFactory() as fake:
        fake.model_validating_polls = 0  # active at the first poll: the sample waits 5 s apart
        job_id = fake.add_job(running_steps=4, finish_after=0)
        monkeypatch.setenv("NEBIUS_API_KEY", fake.api_key)
        monkeypatch.setenv("NEBIUS_BASE_URL", fake.url)
        sample_run: Callable[[str], Awaitable[None]] = run
        await sample_run(job_id)
        remaining = sorted(fake.models)

    lines = capsys.readouterr().out.splitlines()
    planned, served, *rest = lines
    assert served.startswith("serving meta-llama/Llama-3.1-8B-Instruct-LoRa:support-bot-")
    listed = [line.split() for line in rest]
    assert [status for _, status, _ in listed] == ["active", "validating", "validating"]
    assert listed[0][2].startswith(f"{job_id}:ftckpt-")
    assert planned == f"would deploy {listed[0][2]}"  # the checkpoint then deployed
    assert listed[2][2] == "huggingface.co/org/adapter"
    assert len(remaining) == 2 and not any("from-hub" in name for name in remaining)

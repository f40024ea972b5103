"""The examples still run (against the fake API)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def test_end_to_end_example_against_the_fake(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / "fine_tune_end_to_end.py"), "--fake", "--output", "out"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert "checked train.jsonl: 200 conversational examples" in result.stdout
    assert "uploaded train.jsonl" in result.stdout
    assert "succeeded" in result.stdout
    downloaded = list((tmp_path / "out").iterdir())
    assert [path.name for path in downloaded] == ["adapter-step-100.safetensors"]
    assert downloaded[0].read_bytes().startswith(b"weights of ftjob-")
    deployed = re.search(r"deploying checkpoint (ftckpt-\S+) as (\S+);", result.stdout)
    assert deployed is not None, result.stdout
    assert deployed.group(1).endswith("-100")  # the lowest training loss: the last step
    assert f"model {deployed.group(2)} is active" in result.stdout

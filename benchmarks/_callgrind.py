"""Counting a process's instructions with valgrind's callgrind (user space only)."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Mapping, Sequence


def instructions(command: Sequence[str], env: Mapping[str, str] | None = None) -> int:
    """The instructions ``command`` executes, counted by callgrind (its output discarded)."""
    counted = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", *command]
    done = subprocess.run(
        counted, capture_output=True, text=True, check=True, timeout=3600, env=env
    )
    found = re.search(r"Collected : (\d+)", done.stderr)
    assert found is not None, done.stderr[-2000:]
    return int(found[1])

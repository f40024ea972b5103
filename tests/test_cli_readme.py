"""The README's command-line synopsis is true: every command it lists exists and takes
every flag it shows."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from nebius_ft_async.cli import main

README = Path(__file__).resolve().parent.parent / "README.md"


def synopsis() -> list[tuple[list[str], list[str]]]:
    """``(command words, flags)`` of each ``nebius-ft`` line in the Command line section's
    first code block (a line starting with spaces continues the one above)."""
    section = README.read_text().split("## Command line", 1)[1]
    block = section.split("```bash\n", 1)[1].split("```", 1)[0]
    lines: list[str] = []
    for line in block.splitlines():
        if line.startswith(" ") and lines:
            lines[-1] += line
        elif line.startswith("nebius-ft "):
            lines.append(line)
    commands = []
    for line in lines:
        shown = line.split("#", 1)[0].split()[1:]
        words = []
        for word in shown:
            if not word.isalpha() or not word.islower():
                break
            words.append(word)
        commands.append((words, re.findall(r"--[a-z][a-z-]*", line.split("#", 1)[0])))
    return commands


def test_the_synopsis_lists_the_new_commands() -> None:
    listed = {" ".join(words) for words, _ in synopsis()}
    assert {"files upload", "files download", "jobs create", "jobs cancel", "fake serve"} <= listed


@pytest.mark.parametrize(("words", "flags"), synopsis(), ids=lambda v: " ".join(v))
def test_each_listed_command_takes_its_flags(
    words: list[str], flags: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main([*words, "--help"])
    assert exited.value.code == 0
    shown = capsys.readouterr().out
    for flag in flags:
        assert re.search(rf"{re.escape(flag)}\b", shown), (words, flag)

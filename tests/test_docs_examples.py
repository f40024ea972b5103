"""Every ```python block of README.md and docs/**/*.md runs, against the fake Token Factory.

The conventions a page follows:

- The blocks of one page run in order, in one namespace per page: a block may use what an
  earlier block of the same page imported or defined.
- For each page the harness starts a fresh ``FakeTokenFactory`` and puts it in the
  namespace as ``fake``, with ``session`` (an open ``AsyncSession`` on it); what one block
  does to it (a job created, a file uploaded) the next block sees. ``fake``, ``session``
  and ``job_id`` are set again before each block (a block may rebind them). Its jobs
  ``ftjob-abc``, ``ftjob-abc123`` and ``ftjob-def`` exist, and every job it scripts or is
  asked to create is already final (``finish_after=0``), every model created is active at
  its first poll and every dataset upload completed is assembled at once, so waits end at the
  first poll.
  ``job_id`` is ``"ftjob-abc"``. ``NEBIUS_API_KEY`` and ``NEBIUS_BASE_URL`` point at it, so
  ``AsyncSession()`` reaches it; ``WANDB_API_KEY`` is set; the working directory is a fresh
  temporary one holding a valid ``train.jsonl`` and a LoRA adapter archive ``adapter.zip``;
  the ``nebius-ft`` command is on ``PATH``.
- A block with a top-level ``await`` runs as a coroutine on the test's event loop. Any other
  block runs in a worker thread, so it may call ``asyncio.run`` or ``anyio.run`` itself.
- A block that defines ``async def test_...`` functions (how a user's own test looks) has
  each of them awaited after it ran.
- A block that needs a real account (real money, real data) is preceded by the line
  ``<!-- requires: account -->`` and is not run: it is reported as a skipped test with that
  reason. Keep such blocks few.
"""

from __future__ import annotations

import ast
import inspect
import json
import os
import re
import sys
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio.to_thread
import pytest

import nebius_ft_async
from nebius_ft_async.testing import FakeTokenFactory

pytestmark = pytest.mark.anyio

ROOT = Path(__file__).resolve().parent.parent
ACCOUNT_MARKER = "<!-- requires: account -->"
FENCE = re.compile(r"^```python[ \t]*\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)
KNOWN_JOBS = ("ftjob-abc", "ftjob-abc123", "ftjob-def")


@dataclass(frozen=True)
class Block:
    page: str
    line: int
    source: str
    needs_account: bool


def pages() -> list[Path]:
    """README.md and every page of docs/ with a Python block."""
    found = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
    return [page for page in found if "```python" in page.read_text(encoding="utf-8")]


def blocks_of(page: Path) -> list[Block]:
    return blocks_in(page.read_text(encoding="utf-8"), page.relative_to(ROOT).as_posix())


def blocks_in(text: str, name: str) -> list[Block]:
    """The ```python blocks of a page's text, each marked if the line before is the marker."""
    found = []
    for match in FENCE.finditer(text):
        before = text[: match.start()].rstrip().splitlines()
        found.append(
            Block(
                page=name,
                line=text.count("\n", 0, match.start()) + 1,
                source=match.group(1),
                needs_account=bool(before) and before[-1].strip() == ACCOUNT_MARKER,
            )
        )
    return found


def all_blocks() -> Iterator[Block]:
    for page in pages():
        yield from blocks_of(page)


class DocsFake(FakeTokenFactory):
    """The fake with every job final, every created model active and every completed dataset
    upload assembled at once, so the pages' waits end at the first poll."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.model_validating_polls = 0
        self.upload_completing_polls = 0

    def add_job(self, job_id: str | None = None, **options: Any) -> str:
        if "step_seconds" not in options:
            options.setdefault("finish_after", 0)
        return super().add_job(job_id, **options)


def write_inputs(directory: Path) -> None:
    with zipfile.ZipFile(directory / "adapter.zip", "w") as archive:
        archive.writestr("adapter_config.json", b'{"r": 16}')
        archive.writestr("adapter_model.safetensors", b"weights")
    lines = [
        {"messages": [{"role": "user", "content": f"Q{n}?"}, {"role": "assistant", "content": "A"}]}
        for n in range(20)
    ]
    (directory / "train.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))


async def run_block(block: Block, namespace: dict[str, Any]) -> None:
    code = compile(
        block.source,
        f"{block.page}:{block.line}",
        "exec",
        flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT,
        dont_inherit=True,
    )
    before = set(namespace)
    if code.co_flags & inspect.CO_COROUTINE:
        await eval(code, namespace)
    else:
        await anyio.to_thread.run_sync(exec, code, namespace)
    for name in sorted(set(namespace) - before):
        value = namespace[name]
        if name.startswith("test_") and inspect.iscoroutinefunction(value):
            await value()


@pytest.mark.parametrize("page", [p.relative_to(ROOT).as_posix() for p in pages()])
async def test_page_examples_run(
    page: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runnable = [block for block in blocks_of(ROOT / page) if not block.needs_account]
    assert runnable, f"{page} has only blocks that need an account"
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("WANDB_API_KEY", "wandb-docs-key")
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    namespace: dict[str, Any] = {"__name__": "docs_example"}
    write_inputs(tmp_path)
    async with DocsFake() as fake:
        for job_id in KNOWN_JOBS:
            fake.add_job(job_id)
        monkeypatch.setenv("NEBIUS_API_KEY", fake.api_key)
        monkeypatch.setenv("NEBIUS_BASE_URL", fake.url)
        async with fake.session() as session:
            for block in runnable:
                namespace.update(fake=fake, session=session, job_id=KNOWN_JOBS[0])
                await run_block(block, namespace)


ACCOUNT_BLOCKS = [block for block in all_blocks() if block.needs_account]


if ACCOUNT_BLOCKS:

    @pytest.mark.parametrize(
        "block", ACCOUNT_BLOCKS, ids=[f"{block.page}:{block.line}" for block in ACCOUNT_BLOCKS]
    )
    def test_account_examples_are_skipped(block: Block) -> None:
        pytest.skip(f"{block.page}:{block.line} needs a real Token Factory account")


def test_the_account_marker_marks_only_the_next_block() -> None:
    text = (
        "Intro.\n\n```python\nprint(1)\n```\n\n"
        f"{ACCOUNT_MARKER}\n```python\nprint(2)\n```\n"
        "```bash\necho no\n```\n```python\nprint(3)\n```\n"
    )
    blocks = blocks_in(text, "page.md")
    assert [(block.line, block.source, block.needs_account) for block in blocks] == [
        (3, "print(1)\n", False),
        (8, "print(2)\n", True),
        (14, "print(3)\n", False),
    ]


def test_blocks_are_found() -> None:
    found = list(all_blocks())
    assert sum(block.page == "README.md" for block in found) >= 5
    assert len(ACCOUNT_BLOCKS) <= 3, "keep the blocks that need an account few"


def test_every_page_is_in_the_site_navigation() -> None:
    navigation = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    for page in (ROOT / "docs").rglob("*.md"):
        assert f": {page.relative_to(ROOT / 'docs').as_posix()}\n" in navigation, page


def test_every_public_name_is_in_the_api_reference() -> None:
    reference = "".join(
        page.read_text(encoding="utf-8") for page in (ROOT / "docs" / "reference").glob("*.md")
    )
    documented = set(re.findall(r"^::: nebius_ft_async\.(\w+)$", reference, re.MULTILINE))
    assert set(nebius_ft_async.__all__) - {"__version__"} - documented == set()

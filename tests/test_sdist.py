"""The sdist holds everything its tests import or read, so its tests run from it alone."""

from __future__ import annotations

import re
import tarfile
from pathlib import Path

from hatchling.builders.sdist import SdistBuilder

ROOT = Path(__file__).resolve().parent.parent
SKIPPED_PARTS = {"__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache"}


def files_under(directory: Path) -> set[str]:
    return {
        path.relative_to(ROOT).as_posix()
        for path in directory.rglob("*")
        if path.is_file() and not SKIPPED_PARTS & set(path.parts) and path.suffix != ".pyc"
    }


def needed_by_the_tests() -> set[str]:
    """The package, the tests, and every top-level file or folder a test names by its name."""
    needed = files_under(ROOT / "nebius_ft_async") | files_under(ROOT / "tests")
    named = set()
    for module in (ROOT / "tests").glob("*.py"):
        named |= set(re.findall(r"""["']([\w.-]+)["']""", module.read_text(encoding="utf-8")))
    for name in named:
        path = ROOT / name
        if not name.startswith(".") and path.exists() and path.parent == ROOT:
            needed |= files_under(path) if path.is_dir() else {name}
    return needed


def test_the_sdist_holds_what_the_tests_need(tmp_path: Path) -> None:
    built = Path(next(SdistBuilder(str(ROOT)).build(directory=str(tmp_path))))
    with tarfile.open(built) as archive:
        top = archive.getnames()[0].split("/")[0]
        shipped = {name.removeprefix(f"{top}/") for name in archive.getnames()}
    needed = needed_by_the_tests()
    assert {"README.md", "examples/fine_tune_end_to_end.py", "mkdocs.yml"} <= needed
    assert needed - shipped == set()
    assert {".ci/run", "pyproject.toml", "docs/index.md"} <= shipped

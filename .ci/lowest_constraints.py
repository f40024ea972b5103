"""Print a pip constraints file that pins each runtime dependency, and each dependency of the
optional extras users install (cli, otel, mcp, redis), to the lowest version pyproject.toml
declares. `pip install -c` with it fails when a declared minimum cannot be installed beside
the rest: then the minimum in pyproject.toml is wrong and must be raised.

    python .ci/lowest_constraints.py pyproject.toml > lowest.txt
"""

import re
import sys
import tomllib

RUNTIME_EXTRAS = ("cli", "otel", "mcp", "redis")


def lowest_pins(project: dict[str, object]) -> list[str]:
    requirements = list(project["dependencies"])  # type: ignore[call-overload]
    extras = project["optional-dependencies"]
    for extra in RUNTIME_EXTRAS:
        requirements += extras[extra]  # type: ignore[index]
    pins = []
    for requirement in requirements:
        match = re.fullmatch(r"([A-Za-z0-9_.-]+)(\[[^\]]*\])?>=([^,;]+)(,.*)?", requirement)
        if match is None:
            raise SystemExit(f"{requirement!r} declares no lower bound (name>=version)")
        pins.append(f"{match[1]}=={match[3]}")
    return sorted(set(pins))


if __name__ == "__main__":
    with open(sys.argv[1], "rb") as file:
        print("\n".join(lowest_pins(tomllib.load(file)["project"])))

"""Test runs beyond the main one: ``nox -s lowest`` (README, "The lowest versions")."""

from __future__ import annotations

import sys
from pathlib import Path

import nox
from packaging.requirements import Requirement

if sys.version_info >= (3, 11):
    import tomllib
else:  # nox itself depends on tomli there
    import tomli as tomllib

nox.options.sessions = ["lowest"]
# The standard library's venv: nothing to fetch besides the packages themselves.
nox.options.default_venv_backend = "venv"

PYPROJECT = Path(__file__).parent / "pyproject.toml"
# Prints what the pins resolved to, on one line.
SHOW_VERSIONS = (
    "import sys; from importlib.metadata import version; "
    "print('lowest:', ', '.join(f'{n} {version(n)}' for n in sys.argv[1:]))"
)


def lowest_pins() -> list[str]:
    """The floors of ``[project] dependencies`` as pins, so the job follows pyproject.toml.

    A floor of two parts names a series and gets its latest patch (``Django>=4.2`` becomes
    ``Django~=4.2.0``: 4.2 LTS's security fixes are part of what users run), one part
    likewise (``cryptography>=42`` becomes ``~=42.0``); a floor of three parts names a patch
    that is needed, and is pinned as it stands (``daphne>=4.2.2`` becomes ``==4.2.2``).
    """
    project = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]
    pins = []
    for line in project["dependencies"]:
        requirement = Requirement(line)
        floors = [spec.version for spec in requirement.specifier if spec.operator == ">="]
        if len(floors) != 1:
            raise SystemExit(f"{line!r} in pyproject.toml needs one floor (>=) for nox -s lowest")
        floor = floors[0]
        if floor.count(".") >= 2:
            pins.append(f"{requirement.name}=={floor}")
        else:
            pins.append(f"{requirement.name}~={floor}.0")
    return pins


@nox.session
def lowest(session: nox.Session) -> None:
    """The unit and integration suites on the lowest versions pyproject.toml claims."""
    pins = lowest_pins()
    session.log("pins: " + " ".join(pins))
    session.install("-q", "-e", ".[test-tools]", *pins)
    names = [Requirement(pin).name for pin in pins]
    session.run("python", "-c", SHOW_VERSIONS, *names, log=False)
    session.run(
        "python",
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        *(session.posargs or ["tests/unit", "tests/integration"]),
    )

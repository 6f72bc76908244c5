"""The test matrix beyond the main run (README, "Supported versions").

``nox -s lowest``: the floors of ``[project] dependencies`` (Django 4.2, channels 4.2);
``nox -s latest``: Django 5.2 and channels 4.3 as the ``test`` extra names them, the rest
at their newest. Each runs the unit and integration suites in a venv of its own with only
the ``test-tools`` extra; the whole suite runs on the main combination (.venv, README).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import nox
from packaging.requirements import Requirement

if sys.version_info >= (3, 11):
    import tomllib
else:  # nox itself depends on tomli there
    import tomli as tomllib

nox.options.sessions = ["lowest", "latest"]
# The standard library's venv: nothing to fetch besides the packages themselves.
nox.options.default_venv_backend = "venv"

PYPROJECT = Path(__file__).parent / "pyproject.toml"
# Prints what the dependencies resolved to, on one line: `SESSION: Django 4.2.30, ...`.
SHOW_VERSIONS = (
    "import sys; from importlib.metadata import version; "
    "print(sys.argv[1] + ':', ', '.join(f'{n} {version(n)}' for n in sys.argv[2:]))"
)


def project_table() -> dict[str, Any]:
    project: dict[str, Any] = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]
    return project


def lowest_pins() -> list[str]:
    """The floors of ``[project] dependencies`` as pins, so the job follows pyproject.toml.

    A floor of two parts names a series and gets its latest patch (``Django>=4.2`` becomes
    ``Django~=4.2.0``: 4.2 LTS's security fixes are part of what users run), one part
    likewise (``cryptography>=42`` becomes ``~=42.0``); a floor of three parts names a patch
    that is needed, and is pinned as it stands (``daphne>=4.2.2`` becomes ``==4.2.2``).
    """
    pins = []
    for line in project_table()["dependencies"]:
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


def latest_pins() -> list[str]:
    """Django and channels as the ``test`` extra bounds them (``Django>=5.2,<6.0``: the
    latest 5.2 patch), so this job and the main run test the same series."""
    wanted = {"django", "channels"}
    pins = [
        line
        for line in project_table()["optional-dependencies"]["test"]
        if Requirement(line).name.lower() in wanted
    ]
    if {Requirement(pin).name.lower() for pin in pins} != wanted:
        raise SystemExit("the test extra in pyproject.toml must bound Django and channels")
    return pins


def unit_and_integration(session: nox.Session, pins: list[str]) -> None:
    """Install appws with the test tools and ``pins``, print what resolved, run the suites."""
    session.log("pins: " + " ".join(pins))
    session.install("-q", "-e", ".[test-tools]", *pins)
    names = [Requirement(dependency).name for dependency in project_table()["dependencies"]]
    session.run("python", "-c", SHOW_VERSIONS, session.name, *names, log=False)
    session.run(
        "python",
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        *(session.posargs or ["tests/unit", "tests/integration"]),
    )


@nox.session
def lowest(session: nox.Session) -> None:
    """The unit and integration suites on the lowest versions pyproject.toml claims."""
    unit_and_integration(session, lowest_pins())


@nox.session
def latest(session: nox.Session) -> None:
    """The unit and integration suites on Django 5.2 and channels 4.3, latest patches."""
    unit_and_integration(session, latest_pins())

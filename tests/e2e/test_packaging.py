"""The sdist and wheel users install: built as ``python -m build`` builds them, then checked."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.e2e.daphne import ROOT

pytestmark = pytest.mark.e2e

BUILD_TIMEOUT = 300  # s: a bound for a hung build; nothing here measures speed
DIST_INFO = "appws-0.1.0.dist-info/"


def clean_checkout(target: Path) -> Path:
    """The project's files as a fresh clone has them: no egg-info, no build leftovers.

    A checkout's ``appws.egg-info/SOURCES.txt`` (from ``pip install -e``) feeds the sdist
    every file it once listed, and would hide a file missing from the package data.
    """
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split("\0")
    for name in filter(None, listed):
        source = ROOT / name
        if source.is_file():  # a file deleted but not yet committed is listed too
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    return target


@pytest.fixture(scope="session")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Both archives, once per session: the wheel is built from the sdist, as pip would."""
    source = clean_checkout(tmp_path_factory.mktemp("checkout"))
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "build", "--outdir", str(out), str(source)],
        check=True,
        capture_output=True,
        timeout=BUILD_TIMEOUT,
    )
    return out


@pytest.fixture(scope="session")
def wheel_names(dist: Path) -> set[str]:
    (wheel,) = dist.glob("*.whl")
    with zipfile.ZipFile(wheel) as archive:
        return set(archive.namelist())


def source_files(folder: str) -> set[str]:
    base = ROOT / "appws" / folder
    return {
        path.relative_to(ROOT).as_posix()
        for path in base.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    }


def test_twine_accepts_both_archives(dist):
    archives = sorted(str(path) for path in dist.iterdir())
    assert len(archives) == 2  # the sdist and the wheel
    checked = subprocess.run(
        [sys.executable, "-m", "twine", "check", "--strict", *archives],
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


@pytest.mark.parametrize("folder", ["static", "templates", "migrations"])
def test_wheel_holds_every_file_of(wheel_names, folder):
    wanted = source_files(folder)
    assert wanted  # the folder exists and is not empty
    assert wanted <= wheel_names, sorted(wanted - wheel_names)


def test_wheel_holds_every_module_the_type_marker_and_the_licence(wheel_names):
    modules = {
        path.relative_to(ROOT).as_posix()
        for path in (ROOT / "appws").rglob("*.py")
        if "__pycache__" not in path.parts
    }
    assert modules <= wheel_names, sorted(modules - wheel_names)
    assert "appws/py.typed" in wheel_names
    assert f"{DIST_INFO}licenses/LICENSE" in wheel_names
    assert "appws/static/appws/appws.js" in wheel_names


def test_wheel_holds_nothing_of_the_demo_tests_or_benchmarks(wheel_names):
    tops = {name.split("/")[0] for name in wheel_names}
    assert tops == {"appws", DIST_INFO.rstrip("/")}
    stray = [n for n in wheel_names if any(p in n for p in ("demo_site", "tests/", "bench/"))]
    assert stray == []

"""Every ``appws.`` path README.md and docs/ show a user imports and resolves.

The paths are collected from the documents themselves, so a page that starts naming a
new path is covered without touching this test; what reads like a path but is not one
(a logger, a permission, a file, a check id) is listed below.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]

#: Dotted names the documents use for something other than Python.
NOT_PYTHON = {
    "appws.login",  # logger
    "appws.live",  # logger of the live-session heartbeat and sweep
    "appws.open_",  # permission prefix, appws.open_<name>
    "appws.js",  # the browser client's file
    "appws.test.mjs",  # its tests
    "appws.env",  # deploy/: the environment file
    "appws.env.example",
    "appws.target",  # deploy/: the systemd target
}
#: System check ids (appws.E001, appws.W003, ...).
CHECK_ID = re.compile(r"appws\.[EW]\d{3}")

# Not preceded by a name, a path or a dot: "nginx-appws.conf" and
# "/etc/appws/appws.env" are files.
DOTTED = re.compile(r"(?<![\w./-])appws(?:\.\w+)+")
FROM_IMPORT = re.compile(r"^\s*from\s+(appws(?:\.\w+)*)\s+import\s+(\([^)]*\)|[\w ,]+)", re.M)


def documented_paths() -> list[str]:
    paths: set[str] = set()
    for document in DOCUMENTS:
        text = document.read_text(encoding="utf-8")
        paths.update(DOTTED.findall(text))
        for module, names in FROM_IMPORT.findall(text):
            # "from appws.client import Client as C" names appws.client.Client.
            paths.update(
                f"{module}.{name.split()[0]}"
                for name in names.strip("()").split(",")
                if name.strip()
            )
    return sorted(path for path in paths if path not in NOT_PYTHON and not CHECK_ID.fullmatch(path))


def resolve(path: str) -> object:
    """Import the longest module prefix of ``path``, then look the rest up as attributes."""
    parts = path.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            value: object = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for attribute in parts[cut:]:
            value = getattr(value, attribute)
        return value
    raise ModuleNotFoundError(path)


def test_the_documents_name_paths() -> None:
    paths = documented_paths()
    # The scan itself works: a few paths every version of the docs shows.
    assert {"appws.routing.service_urls", "appws.client.Client", "appws.mt"} <= set(paths)


@pytest.mark.parametrize("path", documented_paths())
def test_documented_path_resolves(path: str) -> None:
    resolve(path)

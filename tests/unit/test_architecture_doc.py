"""docs/architecture.md names only files that exist, and every module in its layers.

The page walks a reader through the code file by file, so a moved or renamed module
must fail here rather than leave the page pointing at nothing. Its dotted paths
(``appws.server.frames.FrameGate``) are resolved by ``test_documented_paths.py``,
which reads every page under docs/; this test checks the file paths and that the
layers section places every module and package directly in ``appws/`` (the layers
contract in pyproject.toml is exhaustive, so each of them has a layer to name).
"""

from __future__ import annotations

import re
from pathlib import Path

from tests.unit.test_documented_paths import DOCUMENTS, DOTTED

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "architecture.md"
TEXT = PAGE.read_text(encoding="utf-8")

# A repository path: not preceded by a name, a path or a dot ("/etc/appws/..." is no
# repository path); a full stop ending a sentence is not part of it.
FILE_PATH = re.compile(r"(?<![\w./-])(?:appws|tests|docs)/[\w./-]*")


def named_files(text: str) -> list[str]:
    return sorted({match.rstrip(".") for match in FILE_PATH.findall(text)})


def layers_section(text: str) -> str:
    return text.split("\n## The layers\n", 1)[1].split("\n## ", 1)[0]


def top_level_modules() -> list[str]:
    """``appws/x.py`` and ``appws/x/`` for every module and package directly in appws/."""
    package = ROOT / "appws"
    modules = [f"appws/{p.name}" for p in package.glob("*.py") if p.name != "__init__.py"]
    packages = [f"appws/{p.parent.name}/" for p in package.glob("*/__init__.py")]
    return sorted(modules + packages)


def test_the_scan_finds_the_files_the_page_names() -> None:
    # Guard against a test that passes because it looked at nothing.
    assert len(named_files(TEXT)) > 30
    assert named_files("see /etc/appws/appws.env and appws/x.py.") == ["appws/x.py"]


def test_every_file_the_page_names_exists() -> None:
    missing = [path for path in named_files(TEXT) if not (ROOT / path).exists()]
    assert not missing, f"docs/architecture.md names files that do not exist: {missing}"


def test_the_dotted_paths_of_the_page_are_resolved_elsewhere() -> None:
    # test_documented_paths.py resolves them; this page must stay among its documents.
    assert PAGE in DOCUMENTS
    assert len(DOTTED.findall(TEXT)) > 10


def test_the_layers_section_places_every_top_level_module() -> None:
    section = layers_section(TEXT)
    unnamed = [path for path in top_level_modules() if f"`{path}`" not in section]
    assert not unnamed, (
        "modules directly in appws/ that docs/architecture.md's layers table does not "
        f"name (give each the row of its layer in pyproject.toml): {unnamed}"
    )

"""The documentation site (mkdocs.yml) shows lists as they read in the repository.

The site's Markdown (Python-Markdown) takes a nested list or a code block as part of a
list item only when it is indented by four spaces; with fewer, as GitHub accepts, the
site shows it as plain text run into the item. ``mkdocs build --strict`` (.ci/run) fails
on broken links and pages left out of the navigation, but not on this.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# README.md is the site's front page (docs/index.md includes it).
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
ITEM = re.compile(r"^( *)(?:[-*+]|\d+[.)]) ")
FENCE = re.compile(r"^( *)```")


def shallow_lines(text: str) -> list[str]:
    """The lines of ``text`` that open a nested list or code block less than four spaces
    in from the list item they belong to."""
    found = []
    markers: list[int] = []  # indentation of the list item markers that enclose the line
    in_code = False
    for number, line in enumerate(text.splitlines(), start=1):
        fence = FENCE.match(line)
        if in_code:
            in_code = not fence
            continue
        item = ITEM.match(line)
        if not item and not fence:
            if line.strip() and not line.startswith(" "):
                markers = []  # a paragraph of its own: the lists are over
            continue
        indent = len((item or fence).group(1))  # type: ignore[union-attr]
        while markers and indent < markers[-1]:
            markers.pop()
        if markers and markers[-1] < indent < markers[-1] + 4:
            found.append(f"line {number}: {line.strip()}")
        if item and (not markers or indent > markers[-1]):
            markers.append(indent)
        in_code = bool(fence)
    return found


def test_a_shallow_nested_list_is_found() -> None:
    text = (
        "1. item\n   - nested\n\n```\n  - in code\n```\n2. item\n    - nested\n"
        "      1. shallow under the nested one\n   ```sh\n   code\n   ```\n"
    )
    assert shallow_lines(text) == [
        "line 2: - nested",
        "line 9: 1. shallow under the nested one",
        "line 10: ```sh",
    ]


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda path: str(path.relative_to(ROOT)))
def test_nested_blocks_are_indented_four_spaces(document: Path) -> None:
    found = shallow_lines(document.read_text(encoding="utf-8"))
    assert not found, f"{document.name}: indent these by four spaces for the docs site: {found}"

"""No module of appws is over 300 lines unless its docstring says why.

A long module is usually two concerns; when it is one, its docstring carries a line
starting "Long because" that says so, and a reader knows it was a choice.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "appws"
MAX_LINES = 300
MARKER = "Long because"


def too_long() -> list[str]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if "migrations" in path.parts:
            continue  # written by makemigrations
        text = path.read_text(encoding="utf-8")
        lines = len(text.splitlines())
        if lines <= MAX_LINES:
            continue
        docstring = ast.get_docstring(ast.parse(text)) or ""
        if not any(line.strip().startswith(MARKER) for line in docstring.splitlines()):
            found.append(f"{path.relative_to(PACKAGE.parent)} ({lines} lines)")
    return found


def test_no_module_is_long_without_a_reason() -> None:
    found = too_long()
    assert not found, (
        f"over {MAX_LINES} lines with no {MARKER!r} line in the module docstring: "
        "split them, or say why not:\n" + "\n".join(found)
    )

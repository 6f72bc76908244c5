"""The reference tables of the docs list what the code has, no more, no less."""

from __future__ import annotations

import re
from pathlib import Path

from appws.conf import DEFAULTS
from appws.server.reserved import ANSWER_TO_UNREADABLE, RESERVED

DOCS = Path(__file__).resolve().parents[2] / "docs"


def first_cells(page: str, heading: str) -> set[str]:
    """The backquoted names in the first column of the table under ``heading``."""
    text = (DOCS / page).read_text(encoding="utf-8")
    section = text.split(heading, 1)[1]
    section = re.split(r"\n#{1,3} ", section, maxsplit=1)[0]
    names: set[str] = set()
    for line in section.splitlines():
        if line.startswith("| `"):
            names.update(re.findall(r"`([^`]+)`", line.split("|")[1]))
    return names


def test_protocol_md_lists_every_reserved_type() -> None:
    listed = first_cells("protocol.md", "## Reserved message types") - {"mt"}  # the header
    assert listed == {*RESERVED, ANSWER_TO_UNREADABLE}


def test_consumer_md_lists_every_setting() -> None:
    listed = {
        name for name in first_cells("consumer.md", "## Settings") if re.fullmatch(r"[A-Z_]+", name)
    }
    assert listed == set(DEFAULTS)

"""Every case of the security table (tests/security_cases.py) gets the reply or effect it lists."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests import make_security_table
from tests.security_cases import CASES, Case, check, run_case

ROOT = Path(__file__).resolve().parents[2]


def _params() -> list[object]:
    marks = [pytest.mark.django_db(transaction=True)]
    return [pytest.param(case, id=case.id, marks=marks if case.db else ()) for case in CASES]


def test_case_names_are_unique() -> None:
    assert len({case.id for case in CASES}) == len(CASES)


@pytest.mark.parametrize("case", _params())
async def test_security_case(case: Case) -> None:
    check(case, await run_case(case))


def test_security_table_is_current() -> None:
    committed = (ROOT / "docs" / "security.md").read_text(encoding="utf-8")
    assert make_security_table.render() == committed, (
        "docs/security.md is out of date: run .venv/bin/python -m tests.make_security_table"
    )

"""Every end-to-end module takes its servers' database from ``e2e_database()``.

With ``APPWS_TEST_DB=postgres`` that gives a PostgreSQL database; a module that names a
SQLite file itself (or reads one with ``sqlite3``) would quietly stay on SQLite there.
"""

from __future__ import annotations

import re
from pathlib import Path

from appws.testing import PostgresServer
from tests.e2e.databases import e2e_database, e2e_rows
from tests.suite_db import ON_POSTGRES

E2E = Path(__file__).resolve().parents[1] / "e2e"
OWN_DATABASE = {"databases.py"}
SQLITE_BY_HAND = re.compile(r"\.sqlite3\b|\bimport sqlite3\b|\"db\"")


def test_no_end_to_end_module_names_a_sqlite_file() -> None:
    found = [
        f"{path.name}:{number}: {line.strip()}"
        for path in sorted(E2E.glob("*.py"))
        if path.name not in OWN_DATABASE
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if SQLITE_BY_HAND.search(line)
    ]
    assert not found, (
        "give the servers APPWS_DEMO_DB=e2e_database(directory) and read it with "
        "e2e_rows() (tests/e2e/databases.py), so that they follow APPWS_TEST_DB:\n"
        + "\n".join(found)
    )


def test_each_directory_gets_a_database_of_its_own_that_the_test_can_read(
    tmp_path: Path,
) -> None:
    first, second = e2e_database(tmp_path / "a"), e2e_database(tmp_path / "b")
    assert first != second
    if not ON_POSTGRES:
        assert first == str(tmp_path / "a" / "db.sqlite3")
        (tmp_path / "a").mkdir()
    assert e2e_rows(first, "SELECT %s, %s", (1, "a")) == [(1, "a")]


def test_a_database_on_a_given_server_whichever_the_suite_runs_on(
    tmp_path: Path, postgres_server: PostgresServer
) -> None:
    database = e2e_database(tmp_path, postgres_server)
    assert database.startswith(f"postgresql://postgres@127.0.0.1:{postgres_server.port}/")
    assert e2e_rows(database, "SELECT current_database()") == [(database.rsplit("/", 1)[1],)]

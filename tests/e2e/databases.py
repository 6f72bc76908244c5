"""The database of the end-to-end tests' servers: a SQLite file, or one on PostgreSQL.

Every module's servers get a fresh one from :func:`e2e_database`, as the demo's
``APPWS_DEMO_DB`` takes it; with ``APPWS_TEST_DB=postgres`` it is a new database on
the suite's server. :func:`e2e_rows` reads it from the test, whichever it is.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tests.suite_db import ON_POSTGRES, postgres_database

if TYPE_CHECKING:
    from appws.testing import PostgresServer

__all__ = ["e2e_database", "e2e_rows"]

_numbers = itertools.count()


def e2e_database(directory: Path, server: PostgresServer | None = None) -> str:
    """A fresh, empty database for ``APPWS_DEMO_DB``: ``directory/db.sqlite3``, or under
    ``APPWS_TEST_DB=postgres`` a database made now on the suite's server (its URL).

    ``server``: made on that server instead, whatever ``APPWS_TEST_DB`` says (a module
    that runs on both databases in one run, with the ``postgres_server`` fixture).
    """
    if server is None and not ON_POSTGRES:
        return str(directory / "db.sqlite3")
    import psycopg

    # The server tests/settings.py started, unless one is given.
    entry = postgres_database() if server is None else server.database_settings()
    base = f"postgresql://{entry['USER']}@{entry['HOST']}:{entry['PORT']}"
    # The pid: several pytest processes may share one server (APPWS_TEST_PG_PORT).
    name = f"appws_e2e_{os.getpid()}_{next(_numbers)}"
    with psycopg.connect(f"{base}/postgres", autocommit=True) as db:
        db.execute(f'CREATE DATABASE "{name}"')
    return f"{base}/{name}"


def e2e_rows(database: str, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
    """The rows ``sql`` (``%s`` placeholders) selects in ``database`` (an
    :func:`e2e_database`), read while the servers run."""
    if "://" not in database:
        with contextlib.closing(sqlite3.connect(database)) as db:
            return db.execute(sql.replace("%s", "?"), tuple(params)).fetchall()
    import psycopg

    with psycopg.connect(database) as pg:
        return pg.execute(sql, tuple(params)).fetchall()

"""The database of a bench run: a SQLite file, or a throwaway PostgreSQL server.

``python -m bench --db sqlite`` (the default) or ``--db postgres``. Each run gets a
fresh, empty database, migrated once (:func:`bench.servers.prepare_database`) and
shared by every server of the run; the servers find it in their environment
(:meth:`BenchDatabase.env`, read by ``bench/settings.py``).
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

KINDS = ("sqlite", "postgres")
#: The database made on the throwaway server (its ``postgres`` database stays unused).
POSTGRES_NAME = "bench"


class DatabaseMissing(RuntimeError):
    """The database asked for cannot run on this machine; the message says what to install."""


@dataclass(frozen=True)
class BenchDatabase:
    """One run's database: ``kind`` (one of :data:`KINDS`), where, which version."""

    kind: str
    #: A SQLite file's path, or a ``postgresql://`` URL.
    location: str
    version: str

    def env(self) -> dict[str, str]:
        """The environment variables ``bench/settings.py`` takes the database from."""
        if self.kind == "postgres":
            return {"BENCH_DB_URL": self.location}
        # Empty: a BENCH_DB_URL of the harness's own environment must not win.
        return {"BENCH_DB": self.location, "BENCH_DB_URL": ""}


@contextlib.contextmanager
def bench_database(kind: str, directory: Path) -> Iterator[BenchDatabase]:
    """A fresh database of ``kind``: a file in ``directory``, or a PostgreSQL server
    started now and stopped (its data removed) at the end of the block."""
    if kind == "sqlite":
        yield BenchDatabase(kind, str(directory / "bench.sqlite3"), sqlite3.sqlite_version)
        return
    if kind != "postgres":
        raise ValueError(f"unknown database {kind!r}: choose one of {', '.join(KINDS)}")
    import psycopg

    from appws.testing import PostgresServer

    try:
        # fsync on: a tracked login pays for its commit as on a production server.
        server = PostgresServer(durable=True)
    except FileNotFoundError:
        raise DatabaseMissing(
            "--db postgres needs PostgreSQL's server programs (initdb, pg_ctl), and none "
            "were found on PATH or under /usr/lib/postgresql/*/bin: install PostgreSQL "
            "(apt-get install postgresql, brew install postgresql); the harness starts a "
            "throwaway server of its own, no configuration needed"
        ) from None
    with server:
        base = f"postgresql://{server.user}@127.0.0.1:{server.port}"
        with psycopg.connect(f"{base}/postgres", autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{POSTGRES_NAME}"')
            row = admin.execute("SHOW server_version").fetchone()
        version = str(row[0]).split()[0] if row else "unknown"
        yield BenchDatabase(kind, f"{base}/{POSTGRES_NAME}", version)

"""appws.testing.PostgresServer: a throwaway PostgreSQL for tests."""

from __future__ import annotations

import psycopg
import pytest

from appws.testing import PostgresServer, find_postgres_bin
from tests.conftest import require_postgres


def test_missing_server_tools_name_the_package_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PATH", "")
    monkeypatch.setattr("appws.testing.postgres.glob.glob", lambda pattern: [])
    with pytest.raises(FileNotFoundError, match="install the postgresql package"):
        find_postgres_bin()
    with pytest.raises(FileNotFoundError, match="install the postgresql package"):
        PostgresServer()


def test_it_starts_answers_and_leaves_nothing_behind() -> None:
    with require_postgres() as server:
        assert server.running
        directory = server._dir
        assert directory is not None and directory.is_dir()
        settings = server.database_settings("postgres")
        assert settings["ENGINE"] == "django.db.backends.postgresql"
        with psycopg.connect(
            host="127.0.0.1", port=server.port, user="postgres", dbname="postgres"
        ) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
    assert not server.running and not directory.exists()
    server.stop()  # a second stop does nothing

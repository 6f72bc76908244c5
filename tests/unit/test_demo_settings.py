"""The demo's ``APPWS_DEMO_DB``: a SQLite file's path or a PostgreSQL URL."""

from __future__ import annotations

import pytest

from demo_site.settings import demo_database


def test_a_path_is_a_sqlite_file() -> None:
    assert demo_database("/srv/demo/db.sqlite3") == {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": "/srv/demo/db.sqlite3",
    }


@pytest.mark.parametrize("scheme", ["postgresql", "postgres"])
def test_a_postgresql_url_names_server_user_and_database(scheme: str) -> None:
    assert demo_database(f"{scheme}://demo:p%40ss@db.example.com:5433/notes") == {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": "notes",
        "USER": "demo",
        "PASSWORD": "p@ss",
        "HOST": "db.example.com",
        "PORT": "5433",
    }


def test_another_url_is_refused_saying_what_is_taken() -> None:
    with pytest.raises(ValueError, match="postgresql://user@host:port/name"):
        demo_database("mysql://demo@db/notes")

"""Running Django tests on PostgreSQL as well as SQLite, in one pytest run.

:func:`switch_default` points Django's ``default`` database at another server for a
while (a module's tests, say): every thread's connection goes, so the next query of
any thread, asgiref's sync thread included, connects to the new one.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from asgiref.sync import SyncToAsync
from django.conf import settings
from django.db import connections

from appws.testing import PostgresServer

#: Per server port: its settings once its test database exists (made once a session).
_prepared: dict[int, dict[str, Any]] = {}


def _forget_default() -> None:
    connections["default"].close()
    del connections["default"]


def _forget_everywhere() -> None:
    _forget_default()
    # Connections are per thread: the one that database_sync_to_async uses has its own.
    executor = getattr(SyncToAsync, "single_thread_executor", None)
    if executor is not None:
        executor.submit(_forget_default).result()


@contextmanager
def switch_default(config: dict[str, Any]) -> Iterator[None]:
    """``DATABASES["default"]`` is ``config`` inside the block, the old one again after."""
    saved, saved_setting = connections.settings["default"], settings.DATABASES["default"]
    _forget_everywhere()
    connections.settings["default"] = config
    settings.DATABASES["default"] = config
    try:
        yield
    finally:
        _forget_everywhere()
        connections.settings["default"] = saved
        settings.DATABASES["default"] = saved_setting


def postgres_settings(server: PostgresServer) -> dict[str, Any]:
    """``server``'s default-database settings, its test database migrated (once)."""
    if server.port not in _prepared:
        config = connections.configure_settings({"default": server.database_settings()})
        entry = config["default"]
        with switch_default(entry):
            connections["default"].creation.create_test_db(
                verbosity=0, autoclobber=True, serialize=False
            )
        _prepared[server.port] = entry
    return _prepared[server.port]

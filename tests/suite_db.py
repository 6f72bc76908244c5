"""``APPWS_TEST_DB=postgres``: the whole test suite on a PostgreSQL server it starts itself.

Read by ``tests/settings.py`` before Django is set up, so no Django here. The first
process starts the server and says where in ``APPWS_TEST_PG_PORT``; processes it
starts (daphne in the end-to-end tests) inherit that and use the same server.
"""

from __future__ import annotations

import atexit
import os
from typing import Any

ON_POSTGRES = os.environ.get("APPWS_TEST_DB", "").lower() in ("postgres", "postgresql")


def postgres_database() -> dict[str, Any]:
    """The ``default`` database entry for the suite: this session's PostgreSQL server."""
    from appws.testing.postgres import PostgresServer

    port = os.environ.get("APPWS_TEST_PG_PORT")
    if port is None:
        server = PostgresServer().start()
        atexit.register(server.stop)
        port = os.environ["APPWS_TEST_PG_PORT"] = str(server.port)
    return {
        "ENGINE": "django.db.backends.postgresql",
        "HOST": "127.0.0.1",
        "PORT": port,
        "USER": "postgres",
        "NAME": "postgres",
    }

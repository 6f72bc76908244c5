from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.e2e.daphne import DaphneProcess, migrate
from tests.e2e.databases import e2e_database

ECHO_PASSWORD = "e2e-echo-password"
# Above appws's 1 MiB default, so appws (not daphne) answers oversized frames.
DAPHNE_MAX_MESSAGE = str(4 * 1024 * 1024)


@pytest.fixture(scope="session")
def demo_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DaphneProcess]:
    """The demo site under a real daphne, as the README runs it."""
    env = {
        "DJANGO_SETTINGS_MODULE": "demo_site.settings",
        "APPWS_ECHO_PASSWORD": ECHO_PASSWORD,
        "APPWS_DEMO_DB": e2e_database(tmp_path_factory.mktemp("demo")),
    }
    migrate(env)
    server = DaphneProcess(
        env=env,
        args=[
            "--websocket-max-message-size",
            DAPHNE_MAX_MESSAGE,
            "--websocket-max-frame-size",
            DAPHNE_MAX_MESSAGE,
        ],
    )
    server.start()
    yield server
    server.stop()

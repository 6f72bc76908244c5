"""A WebSocket path no App Service serves, against a real daphne: 403, not a 500 traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
import websockets
from websockets.exceptions import InvalidStatus

from tests.e2e.daphne import DaphneProcess
from tests.e2e.databases import e2e_database

pytestmark = pytest.mark.e2e


async def test_daphne_refuses_an_unknown_app_path_with_403(tmp_path: Path) -> None:
    env = {"DJANGO_SETTINGS_MODULE": "demo_site.settings", "APPWS_DEMO_DB": e2e_database(tmp_path)}
    server = DaphneProcess(env=env).start()
    try:
        with pytest.raises(InvalidStatus) as refused:
            async with websockets.connect(f"{server.url}/apps/nosuch"):
                pass
        assert refused.value.response.status_code == 403
    finally:
        server.stop()  # its output is complete only once it has exited
    output = "".join(server.output)
    assert "Traceback" not in output and "ValueError" not in output
    [line] = [line for line in server.output if "refused: no App Service" in line]
    assert "'/apps/nosuch'" in line and "/apps/echo" in line

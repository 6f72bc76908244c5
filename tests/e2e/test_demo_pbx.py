"""The demo's notes service with a PBX connected (the FakePbx), as the README shows it."""

from __future__ import annotations

import asyncio
import time
import urllib.request
from pathlib import Path

import pytest

from appws.testing import FakePbx
from tests.e2e.daphne import DaphneProcess, manage, migrate
from tests.e2e.databases import e2e_database

pytestmark = pytest.mark.e2e

PASSWORD = "notes-pbx-secret"


def landing_page(server: DaphneProcess) -> str:
    with urllib.request.urlopen(f"{server.http_url}/", timeout=10) as answer:
        return str(answer.read().decode())


async def test_the_landing_page_shows_the_connected_pbx(tmp_path: Path) -> None:
    env = {
        "DJANGO_SETTINGS_MODULE": "demo_site.settings",
        "APPWS_DEMO_DB": e2e_database(tmp_path),
        "NOTES_PBX_PASSWORD": PASSWORD,
    }
    migrate(env)
    manage(env, "demo_setup")
    manage(env, "appws_app", "set-password", "notes", "--password-env", "NOTES_PBX_PASSWORD")
    server = DaphneProcess(env=env).start()
    try:
        page = await asyncio.to_thread(landing_page, server)
        assert "No PBX is connected" in page
        async with FakePbx(
            f"{server.url}/apps/notes", password=PASSWORD, sip="notes", pbx="pbx-demo"
        ) as pbx:
            await pbx.wait_for(api="PbxAdminApi", mt="GetObjectResult", direction="sent")
            await pbx.wait_for(api="PbxApi", mt="GetNodeInfoResult", direction="sent")
            # The service writes its row after both replies: poll the page, with a deadline.
            deadline = time.monotonic() + 10
            page = await asyncio.to_thread(landing_page, server)
            while "Connected PBX" not in page and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
                page = await asyncio.to_thread(landing_page, server)
        assert "Connected PBX: <strong>notes@pbx-demo.example.com</strong>" in page
        assert "PbxApi" in page and "App object" in page
    finally:
        server.stop()

"""`manage.py runserver` (daphne's, since daphne is first in INSTALLED_APPS) serves WebSockets."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import websockets

from appws import protocol
from appws.testing import free_port, wait_for_port
from tests.e2e.daphne import ROOT, migrate
from tests.e2e.databases import e2e_database

pytestmark = pytest.mark.e2e


@pytest.fixture
def runserver_port(tmp_path):
    port = free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "demo_site.settings",
        "APPWS_DEMO_DB": e2e_database(tmp_path),
    }
    migrate(env)
    server = subprocess.Popen(
        [sys.executable, "manage.py", "runserver", "--noreload", f"127.0.0.1:{port}"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        wait_for_port(port, server)
        yield port
    finally:
        server.terminate()
        server.wait(10)


async def test_runserver_serves_the_echo_service(runserver_port):
    async with websockets.connect(f"ws://127.0.0.1:{runserver_port}/apps/echo") as ws:
        await ws.send(json.dumps({"mt": "AppChallenge"}))
        challenge = json.loads(await ws.recv())["challenge"]
        login = {"mt": "AppLogin", "app": "echo"}
        login["digest"] = protocol.login_digest(login, challenge, "echo")
        await ws.send(json.dumps(login))
        assert json.loads(await ws.recv())["ok"] is True
        await ws.send(json.dumps({"mt": "Echo", "x": 1, "src": "r"}))
        assert json.loads(await ws.recv()) == {"mt": "EchoResult", "x": 1, "src": "r"}

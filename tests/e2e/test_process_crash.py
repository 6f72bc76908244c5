"""Live-session rows of a killed server process are swept by the survivors."""

from __future__ import annotations

import json
import time

import pytest
import websockets

from appws import protocol
from tests.e2e.daphne import DaphneProcess, migrate
from tests.e2e.databases import e2e_database, e2e_rows

pytestmark = pytest.mark.e2e


@pytest.fixture
def two_servers(tmp_path):
    env = {
        "DJANGO_SETTINGS_MODULE": "tests.e2e.settings",
        "APPWS_DEMO_DB": e2e_database(tmp_path),
        "APPWS_HEARTBEAT_SECONDS": "0.5",
    }
    migrate(env)
    servers = [DaphneProcess(env=env).start(), DaphneProcess(env=env).start()]
    yield servers, env["APPWS_DEMO_DB"]
    for server in servers:
        server.stop()


def session_rows(database) -> list[tuple[str, int]]:
    query = (
        "SELECT s.sip, p.pid FROM appws_livesession s "
        "JOIN appws_serverprocess p ON p.id = s.server_id ORDER BY s.sip"
    )
    return [(sip, pid) for sip, pid in e2e_rows(database, query)]


def wait_for_rows(database, wanted: int, timeout: float = 20) -> list[tuple[str, int]]:
    deadline = time.monotonic() + timeout
    while True:
        rows = session_rows(database)
        if len(rows) == wanted or time.monotonic() > deadline:
            return rows
        time.sleep(0.1)  # polling another process's database writes


async def login(url: str, sip: str):
    ws = await websockets.connect(f"{url}/apps/echo")
    await ws.send(json.dumps({"mt": "AppChallenge"}))
    challenge = json.loads(await ws.recv())["challenge"]
    message = {"mt": "AppLogin", "app": "echo", "sip": sip}
    message["digest"] = protocol.login_digest(message, challenge, "echo")
    await ws.send(json.dumps(message))
    assert json.loads(await ws.recv())["ok"] is True
    return ws


async def test_rows_of_a_killed_process_disappear(two_servers):
    (first, second), database = two_servers
    await login(first.url, "on-first")
    on_second = await login(second.url, "on-second")
    rows = session_rows(database)
    assert [sip for sip, _pid in rows] == ["on-first", "on-second"]
    assert len({pid for _sip, pid in rows}) == 2  # one row per process

    first.kill()  # a crash: no cleanup runs
    assert [sip for sip, _pid in wait_for_rows(database, 1)] == ["on-second"]

    await on_second.send(json.dumps({"mt": "Echo", "still": "here"}))
    assert json.loads(await on_second.recv())["still"] == "here"
    await on_second.close()
    assert wait_for_rows(database, 0) == []

"""Django's cache on a real redis-server under daphne: outages and connections.

The cache has a redis-server of its own and the channel layer another, so that
stopping the cache leaves App changes a way to reach the sessions (what they do
when both are down is the layer's story: docs/scaling.md). One daphne serves the
test services; ``notes`` is an App in the database (so its logins read the App
cache), ``topics`` one in the settings (so its logins only touch the throttle).
"""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import websockets
from websockets.exceptions import ConnectionClosed

from appws import protocol
from appws.protocol.closecodes import CloseCode
from appws.testing import RedisServer
from tests.conftest import require_tool
from tests.e2e.daphne import DaphneProcess, logged_in, manage, migrate
from tests.e2e.databases import e2e_database

pytestmark = pytest.mark.e2e

ASGI = "tests.e2e.asgi:application"
NOTES_PASSWORD = "notes"  # logged_in() logs in with the App's name
UNAVAILABLE = (
    "logins cannot be checked for a moment (the cache that counts failed logins is "
    "unreachable): try again"
)
#: Logins before the file descriptors are first counted: pools, the database, imports.
WARM_UP = 30
LOGINS = 300
#: Room for connections still closing when a count is taken (each login's own
#: socket is closed before the next starts), never for one per login.
FD_TOLERANCE = 8


@pytest.fixture(scope="module")
def cache_redis() -> Iterator[RedisServer]:
    server = RedisServer(require_tool("redis-server", "redis-server")).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def site(cache_redis, tmp_path_factory) -> Iterator[tuple[dict[str, str], DaphneProcess]]:
    layer_redis = RedisServer(require_tool("redis-server", "redis-server")).start()
    env = {
        "DJANGO_SETTINGS_MODULE": "tests.e2e.settings",
        "APPWS_DEMO_DB": e2e_database(tmp_path_factory.mktemp("cache")),
        "APPWS_CACHE_URL": cache_redis.url,
        "APPWS_REDIS_URL": layer_redis.url,
        "APPWS_REDIS_PREFIX": f"t{uuid.uuid4().hex[:8]}",
        "DJANGO_DEBUG": "0",
        "NOTES_PASSWORD": NOTES_PASSWORD,
    }
    migrate(env)
    manage(env, "appws_app", "add", "notes", "--password-env", "NOTES_PASSWORD")
    manage(env, "appws_app", "check-logins", "notes", "notes")
    server = DaphneProcess(ASGI, env=env).start()
    yield env, server
    server.stop()
    layer_redis.stop()


async def login_result(server: DaphneProcess, app: str, password: str) -> tuple[Any, dict]:
    """A new connection and the ``AppLoginResult`` of logging it in to ``app``."""
    ws = await websockets.connect(f"{server.url}/apps/{app}")
    await ws.send(json.dumps({"mt": "AppChallenge"}))
    challenge = json.loads(await ws.recv())["challenge"]
    login = {"mt": "AppLogin", "app": app, "sip": "cache"}
    login["digest"] = protocol.login_digest(login, challenge, password)
    await ws.send(json.dumps(login))
    result: dict = json.loads(await asyncio.wait_for(ws.recv(), 30))
    return ws, result


async def log_in_and_out(server: DaphneProcess, app: str, password: str) -> None:
    ws, result = await login_result(server, app, password)
    assert result["ok"] is True, result
    await ws.close()


async def call(ws: Any, message: dict[str, Any]) -> dict[str, Any]:
    await ws.send(json.dumps(message))
    reply: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), 30))
    return reply


async def closed_with(ws: Any) -> int | None:
    """The close code ``ws`` ends with (after any messages still on their way)."""
    try:
        while True:
            await asyncio.wait_for(ws.recv(), 30)
    except ConnectionClosed as closed:
        return closed.rcvd.code if closed.rcvd is not None else None


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


async def test_a_cache_outage_refuses_logins_clearly_and_spares_sessions(site, cache_redis):
    env, server = site
    topics = await logged_in(f"{server.url}/apps/topics", "topics", "kept")
    notes = await logged_in(f"{server.url}/apps/notes", "notes", "kept")
    cache_redis.stop()
    try:
        for app, password in (("topics", "topics"), ("notes", NOTES_PASSWORD)):
            ws, result = await login_result(server, app, password)
            assert result == {"mt": "AppLoginResult", "ok": False, "errorText": UNAVAILABLE}
            assert await closed_with(ws) == CloseCode.THROTTLED

        # A logged-in session keeps working: its messages need no cache.
        assert await call(topics, {"mt": "Echo", "n": 1, "src": "s"}) == {
            "mt": "EchoResult",
            "n": 1,
            "src": "s",
        }
        # AppCheckLogin cannot be counted either: refused as unavailable, the session kept.
        check = {"mt": "AppCheckLogin", "app": "notes", "domain": "", "challenge": "c"}
        check["digest"] = protocol.login_digest(check, "c", NOTES_PASSWORD)
        assert await call(notes, {**check, "src": "c"}) == {
            "mt": "AppCheckLoginResult",
            "ok": False,
            "error": "unavailable",
            "errorText": UNAVAILABLE,
            "src": "c",
        }
        # An App change made meanwhile (a command, the ORM) still reaches its sessions.
        manage(env, "appws_app", "disable", "notes")
        assert await closed_with(notes) == CloseCode.APP_WITHDRAWN
    finally:
        cache_redis.start()
    manage(env, "appws_app", "enable", "notes")

    # The cache is back: logins work again, from the first one on.
    await log_in_and_out(server, "topics", "topics")
    await log_in_and_out(server, "notes", NOTES_PASSWORD)
    assert (await call(topics, {"mt": "Echo", "n": 2, "src": "s"}))["n"] == 2
    await topics.close()


async def test_logins_reuse_the_process_cache_connections(site):
    _env, server = site
    apps = [("topics", "topics"), ("notes", NOTES_PASSWORD)]
    for number in range(WARM_UP):
        await log_in_and_out(server, *apps[number % 2])
    warm = open_fds(server.pid)
    counts = []
    for number in range(LOGINS):
        await log_in_and_out(server, *apps[number % 2])
        counts.append(open_fds(server.pid))
    assert max(counts) <= warm + FD_TOLERANCE, (warm, min(counts), max(counts))

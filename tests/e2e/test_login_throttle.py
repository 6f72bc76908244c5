"""The failed-login throttle under real concurrency, against real daphne processes.

Hundreds of logins from one address arrive at once; the digests each process
actually checked are counted inside it (tests/e2e/digests.py), so the
assertions are about work done, never about timings. Every test connects from
an address of its own (127.0.0.0/8 is all loopback), so that each starts with
an empty window.
"""

from __future__ import annotations

import asyncio
import json
import urllib.request
import uuid
from collections.abc import Iterator

import pytest
import websockets

from appws import protocol
from appws.testing import RedisServer
from tests.conftest import require_tool
from tests.e2e.daphne import DaphneProcess, migrate
from tests.e2e.databases import e2e_database

pytestmark = pytest.mark.e2e

ASGI = "tests.e2e.asgi:application"
LIMIT = 10
CROWD = 400


def environment(tmp_path_factory: pytest.TempPathFactory, **extra: str) -> dict[str, str]:
    env = {
        "DJANGO_SETTINGS_MODULE": "tests.e2e.settings",
        "APPWS_DEMO_DB": e2e_database(tmp_path_factory.mktemp("throttle")),
        "APPWS_LOGIN_FAILURE_LIMIT": str(LIMIT),
        **extra,
    }
    migrate(env)
    return env


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[DaphneProcess]:
    process = DaphneProcess(ASGI, env=environment(tmp_path_factory)).start()
    yield process
    process.stop()


@pytest.fixture(scope="module")
def pair(tmp_path_factory) -> Iterator[tuple[DaphneProcess, DaphneProcess]]:
    """Two processes sharing one Redis cache (and one database)."""
    redis_server = RedisServer(require_tool("redis-server", "redis-server")).start()
    env = environment(
        tmp_path_factory,
        APPWS_CACHE_URL=redis_server.url,
        APPWS_REDIS_PREFIX=f"t{uuid.uuid4().hex[:8]}",
    )
    first = DaphneProcess(ASGI, env=env).start()
    second = DaphneProcess(ASGI, env=env).start()
    yield first, second
    first.stop()
    second.stop()
    redis_server.stop()


def digests_checked(server: DaphneProcess) -> dict[str, int]:
    with urllib.request.urlopen(f"{server.http_url}/test/digests", timeout=10) as answer:
        counts: dict[str, int] = json.load(answer)
        return counts


async def counts(servers: list[DaphneProcess]) -> list[dict[str, int]]:
    return [await asyncio.to_thread(digests_checked, server) for server in servers]


async def logins_at_once(
    servers: list[DaphneProcess], passwords: list[str], source: str
) -> list[dict]:
    """Open a connection per password (spread over ``servers``), challenge each,
    then send every AppLogin at once; return the AppLoginResults."""

    async def challenged(index: int) -> tuple[websockets.ClientConnection, str]:
        server = servers[index % len(servers)]
        ws = await websockets.connect(f"{server.url}/apps/topics", local_addr=(source, 0))
        await ws.send(json.dumps({"mt": "AppChallenge"}))
        return ws, json.loads(await ws.recv())["challenge"]

    opened = await asyncio.gather(*(challenged(i) for i in range(len(passwords))))

    async def log_in(ws: websockets.ClientConnection, challenge: str, password: str) -> dict:
        login = {"mt": "AppLogin", "app": "topics", "sip": "crowd"}
        login["digest"] = protocol.login_digest(login, challenge, password)
        await ws.send(json.dumps(login))
        result: dict = json.loads(await asyncio.wait_for(ws.recv(), 60))
        await ws.close()
        return result

    return await asyncio.gather(
        *(
            log_in(ws, challenge, password)
            for (ws, challenge), password in zip(opened, passwords, strict=True)
        )
    )


def refusals(results: list[dict]) -> dict[str, int]:
    found: dict[str, int] = {}
    for result in results:
        text = "ok" if result["ok"] else result["errorText"].split(":")[0]
        found[text] = found.get(text, 0) + 1
    return found


async def test_a_storm_of_wrong_passwords_gets_limit_digests_checked(server):
    before = (await counts([server]))[0]
    results = await logins_at_once([server], ["guess"] * CROWD, "127.0.0.2")
    after = (await counts([server]))[0]
    assert after["wrong"] - before["wrong"] == LIMIT
    assert after["checked"] - before["checked"] == LIMIT
    assert refusals(results) == {
        "wrong digest": LIMIT,
        "too many failed logins from this address": CROWD - LIMIT,
    }


async def test_a_storm_of_right_logins_from_one_address_all_get_in(server):
    results = await logins_at_once([server], ["topics"] * CROWD, "127.0.0.3")
    assert refusals(results) == {"ok": CROWD}


async def test_two_processes_sharing_a_cache_check_limit_digests_together(pair):
    servers = list(pair)
    before = await counts(servers)
    results = await logins_at_once(servers, ["guess"] * CROWD, "127.0.0.4")
    after = await counts(servers)
    wrong = [a["wrong"] - b["wrong"] for a, b in zip(after, before, strict=True)]
    assert sum(wrong) == LIMIT, wrong
    assert refusals(results)["wrong digest"] == LIMIT


async def test_right_logins_on_two_processes_all_get_in(pair):
    results = await logins_at_once(list(pair), ["topics"] * CROWD, "127.0.0.5")
    assert refusals(results) == {"ok": CROWD}

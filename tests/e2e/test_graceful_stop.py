"""A server process stopped with SIGTERM or SIGINT ends its sessions before it exits.

Every client gets close code 4012 (reconnect), and once the process has exited its
live-session rows are gone and the Redis groups hold none of its channels: on daphne
and on uvicorn, with a real redis-server.
"""

from __future__ import annotations

import asyncio
import json
import signal
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from websockets.exceptions import ConnectionClosed

from appws.protocol import CloseCode
from appws.testing import DaphneProcess as BaseProcess
from appws.testing import RedisServer
from tests.conftest import require_tool
from tests.e2e.daphne import DaphneProcess, UvicornProcess, logged_in, migrate
from tests.e2e.databases import e2e_database, e2e_rows

pytestmark = pytest.mark.e2e

ASGI = "tests.e2e.asgi:application"
SESSIONS = 24
TOPICS = ("news", "weather", "sport")


@pytest.fixture(scope="module")
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer(require_tool("redis-server", "redis-server")).start()
    yield server
    server.stop()


@pytest.fixture
def env(redis_server: RedisServer, tmp_path: Path) -> dict[str, str]:
    settings = {
        "DJANGO_SETTINGS_MODULE": "tests.e2e.settings",
        "APPWS_DEMO_DB": e2e_database(tmp_path),
        "APPWS_REDIS_URL": redis_server.url,
        "APPWS_REDIS_PREFIX": f"t{uuid.uuid4().hex[:8]}",
        "APPWS_REDIS_CAPACITY": "100",
    }
    migrate(settings)
    return settings


def rows(env: dict[str, str]) -> tuple[int, int]:
    """(LiveSession rows, ServerProcess rows) in the test's database."""
    ((sessions, processes),) = e2e_rows(
        env["APPWS_DEMO_DB"],
        "SELECT (SELECT COUNT(*) FROM appws_livesession), "
        "(SELECT COUNT(*) FROM appws_serverprocess)",
    )
    return sessions, processes


def group_members(redis_server: RedisServer, env: dict[str, str]) -> int:
    """How many channels the test's Redis groups hold, all groups together."""
    client = redis.Redis.from_url(redis_server.url)
    try:
        keys = list(client.scan_iter(match=f"{env['APPWS_REDIS_PREFIX']}:group:*"))
        return sum(int(client.zcard(key)) for key in keys)
    finally:
        client.close()


async def subscribed_session(server: BaseProcess, number: int):
    ws = await logged_in(f"{server.url}/apps/topics", "topics", f"user{number}")
    for topic in TOPICS[: 1 + number % len(TOPICS)]:
        message = {"mt": "Subscribe", "topic": topic, "src": f"s{number}"}
        await ws.send(json.dumps(message))
        assert json.loads(await ws.recv()) == {"mt": "SubscribeResult", "src": f"s{number}"}
    return ws


async def close_code(ws) -> int | None:
    """The code of the close frame the server sent; None when the TCP connection just dropped."""
    with pytest.raises(ConnectionClosed) as closed:
        while True:
            await asyncio.wait_for(ws.recv(), 30)
    return None if closed.value.rcvd is None else closed.value.rcvd.code


def server_for(kind: str, env: dict[str, str]) -> BaseProcess:
    if kind == "daphne":
        return DaphneProcess(ASGI, env=env)
    return UvicornProcess(ASGI, env=env)


@pytest.mark.parametrize(
    ("kind", "signum", "count"),
    [
        ("daphne", signal.SIGTERM, SESSIONS),
        ("uvicorn", signal.SIGTERM, SESSIONS),
        ("daphne", signal.SIGINT, SESSIONS),
        ("uvicorn", signal.SIGINT, SESSIONS),
        # More sessions leaving their groups than the Redis connection pool holds.
        ("daphne", signal.SIGTERM, 160),
    ],
)
async def test_a_stopped_process_closes_its_sessions_and_leaves_no_trace(
    kind, signum, count, env, redis_server
):
    server = server_for(kind, env).start()
    try:
        logins = asyncio.Semaphore(40)

        async def session(number: int):
            async with logins:
                return await subscribed_session(server, number)

        sessions = await asyncio.gather(*(session(n) for n in range(count)))
        assert rows(env) == (count, 1)
        assert group_members(redis_server, env) == sum(
            1 + number % len(TOPICS) for number in range(count)
        )
        codes = asyncio.gather(*(close_code(ws) for ws in sessions))
        exit_code = await asyncio.to_thread(server.stop, signum)
        # The server's log says whether SHUTDOWN_TIMEOUT ran out (frames then may be lost).
        assert await codes == [CloseCode.SERVICE_RESTART] * count, "".join(server.output)
    finally:
        server.stop()
    assert exit_code != -signal.SIGKILL, "".join(server.output)  # it exited by itself
    assert rows(env) == (0, 0)
    assert group_members(redis_server, env) == 0

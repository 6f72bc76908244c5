"""A killed process's channels leave the Redis groups when its sessions are swept."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Iterator

import pytest
import redis

from appws.testing import RedisServer
from tests.conftest import require_tool
from tests.e2e.daphne import DaphneProcess, logged_in, migrate
from tests.e2e.databases import e2e_database, e2e_rows

pytestmark = pytest.mark.e2e

ASGI = "tests.e2e.asgi:application"
CAPACITY = 20  # tests/e2e/settings.py: the layer's queue size in these tests


@pytest.fixture
def cluster(tmp_path) -> Iterator[tuple[dict, RedisServer, DaphneProcess, DaphneProcess]]:
    server = RedisServer(require_tool("redis-server", "redis-server")).start()
    env = {
        "DJANGO_SETTINGS_MODULE": "tests.e2e.settings",
        "APPWS_DEMO_DB": e2e_database(tmp_path),
        "APPWS_REDIS_URL": server.url,
        "APPWS_REDIS_PREFIX": f"t{uuid.uuid4().hex[:8]}",
        "APPWS_REDIS_CAPACITY": str(CAPACITY),
        "APPWS_HEARTBEAT_SECONDS": "0.5",
    }
    migrate(env)
    victim, survivor = DaphneProcess(ASGI, env=env).start(), DaphneProcess(ASGI, env=env).start()
    yield env, server, victim, survivor
    victim.stop()
    survivor.stop()
    server.stop()


def channels_of(database: str, pid: int) -> dict[str, list[str]]:
    """Channel name -> the groups its row lists, for the sessions of process ``pid``."""
    rows = e2e_rows(
        database,
        "SELECT s.channel_name, s.groups FROM appws_livesession s "
        "JOIN appws_serverprocess p ON p.id = s.server_id WHERE p.pid = %s",
        (pid,),
    )
    # A JSON column: text from SQLite, already decoded by PostgreSQL's driver.
    return {
        channel: json.loads(groups) if isinstance(groups, str) else groups
        for channel, groups in rows
    }


def group_members(url: str, prefix: str) -> dict[str, set[str]]:
    """Every channels_redis group (a sorted set) and its members, read from Redis."""
    client = redis.Redis.from_url(url)
    try:
        return {
            key.decode(): {member.decode() for member in client.zrange(key, 0, -1)}
            for key in client.keys(f"{prefix}:group:*")
        }
    finally:
        client.close()


def wait_for_output(server: DaphneProcess, text: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not any(text in line for line in server.output):
        assert time.monotonic() < deadline, f"no {text!r} in:\n" + "".join(server.output)
        time.sleep(0.1)  # waiting for the other process's heartbeat


async def call(ws, message: dict) -> dict:
    await ws.send(json.dumps(message))
    return json.loads(await ws.recv())


async def subscribe(ws, topic: str, src: str) -> None:
    assert await call(ws, {"mt": "Subscribe", "topic": topic, "src": src}) == {
        "mt": "SubscribeResult",
        "src": src,
    }


async def test_a_killed_process_leaves_no_channel_in_the_groups(cluster):
    env, redis_server, victim, survivor = cluster
    prefix = env["APPWS_REDIS_PREFIX"]
    doomed = [await logged_in(f"{victim.url}/apps/topics", "topics", f"d{n}") for n in range(3)]
    for number, ws in enumerate(doomed):
        await subscribe(ws, "news", f"n{number}")
        await subscribe(ws, f"own-{number}", "o")
    listener = await logged_in(f"{survivor.url}/apps/topics", "topics", "listener")
    await subscribe(listener, "news", "l")
    sender = await logged_in(f"{survivor.url}/apps/topics", "topics", "sender")

    victim_pid = victim.pid
    dead = channels_of(env["APPWS_DEMO_DB"], victim_pid)
    assert len(dead) == 3 and all(len(groups) == 2 for groups in dead.values())
    in_groups = set().union(*group_members(redis_server.url, prefix).values())
    assert set(dead) <= in_groups  # each subscribed, in Redis as on its row

    victim.kill()  # a crash: no clean-up of its own runs
    wait_for_output(survivor, "removed 1 stopped server process(es)")

    groups = group_members(redis_server.url, prefix)
    assert not {channel for members in groups.values() for channel in members} & set(dead)
    assert channels_of(env["APPWS_DEMO_DB"], victim_pid) == {}

    # More broadcasts than a queue holds: none is queued for the dead process, so
    # nothing is reported as not delivered, and the live subscriber gets each one.
    sent = range(CAPACITY + 5)
    for number in sent:
        await call(sender, {"mt": "Notify", "topic": "news", "message": {"mt": "N", "n": number}})
    received = [json.loads(await asyncio.wait_for(listener.recv(), 10)) for _ in sent]
    assert [message["n"] for message in received] == list(sent)
    assert "not delivered" not in "".join(survivor.output)
    await listener.close()
    await sender.close()

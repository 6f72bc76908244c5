"""Soak: thousands of short sessions against a real daphne leave nothing behind.

Django's cache is on a real redis-server, as docs/deploy.md advises for several
processes: every login reserves a slot in it.

Each cycle connects, logs in (a LiveSession row), subscribes to a topic of its own and
to a shared one (channel-layer groups), echoes a message and disconnects. Measured
after a warm-up and again at the end: asyncio tasks, channel-layer groups, members
and channels (the TopicService's test-only ``Stats``), session rows in the database,
and the daphne process's open file descriptors and resident memory. Nothing may grow
with the number of cycles; a small fixed tolerance allows for timers and connections in
flight, and memory may grow by RSS_GROWTH (allocator slack, not a leak's slope).
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import websockets

from appws import protocol
from appws.testing import RedisServer
from tests.conftest import require_tool
from tests.e2e.daphne import DaphneProcess, services_server
from tests.e2e.databases import e2e_database, e2e_rows

pytestmark = pytest.mark.e2e

CYCLES = 2000
WORKERS = 20
WARM_UP = 500
TASK_TOLERANCE = 5
FD_TOLERANCE = 5
RSS_GROWTH = 1.10
#: While cycles run, each worker's connection may hold a socket, and the one it just
#: closed another until daphne has let go of it.
FDS_IN_FLIGHT = 2 * WORKERS
SETTLE_SECONDS = 20  # bound on waiting for the server to finish closing sessions


@pytest.fixture
def soak_server(tmp_path: Path) -> Iterator[tuple[DaphneProcess, str]]:
    database = e2e_database(tmp_path)
    with (
        RedisServer(require_tool("redis-server", "redis-server")) as cache,
        services_server(database, {"APPWS_CACHE_URL": cache.url}) as server,
    ):
        yield server, database


async def receive(ws: Any) -> dict[str, Any]:
    reply: dict[str, Any] = json.loads(await ws.recv())
    return reply


async def login(ws: Any, sip: str) -> None:
    await ws.send(json.dumps({"mt": "AppChallenge"}))
    challenge = (await receive(ws))["challenge"]
    message = {"mt": "AppLogin", "app": "topics", "sip": sip}
    message["digest"] = protocol.login_digest(message, challenge, "topics")
    await ws.send(json.dumps(message))
    result = await receive(ws)
    assert result["ok"] is True, result


async def request(ws: Any, message: dict[str, Any]) -> dict[str, Any]:
    await ws.send(json.dumps(message))
    return await receive(ws)


async def cycle(url: str, number: int) -> None:
    async with websockets.connect(url) as ws:
        await login(ws, f"soak-{number % 50}")
        own = await request(ws, {"mt": "Subscribe", "topic": f"soak-{number}", "src": "own"})
        assert own == {"mt": "SubscribeResult", "src": "own"}, own
        shared = await request(ws, {"mt": "Subscribe", "topic": "soak", "src": "shared"})
        assert shared == {"mt": "SubscribeResult", "src": "shared"}, shared
        echo = await request(ws, {"mt": "Echo", "n": number, "src": "e"})
        assert echo == {"mt": "EchoResult", "n": number, "src": "e"}, echo


async def run_cycles(url: str, first: int, count: int) -> None:
    async def worker(offset: int) -> None:
        for number in range(first + offset, first + count, WORKERS):
            await cycle(url, number)

    await asyncio.gather(*(worker(offset) for offset in range(WORKERS)))


def session_rows(database: str) -> int:
    ((count,),) = e2e_rows(database, "SELECT COUNT(*) FROM appws_livesession")
    return int(count)


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def resident_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError(f"no VmRSS for process {pid}")


async def peak_fds_while(pid: int, work: Awaitable[None]) -> int:
    """Run ``work``, counting ``pid``'s open files meanwhile; the most seen."""
    task = asyncio.ensure_future(work)
    peak = open_fds(pid)
    while not task.done():
        peak = max(peak, open_fds(pid))
        await asyncio.wait([task], timeout=0.05)  # sampling another process, not a wait for it
    await task
    return peak


async def settle(measure: Callable[[], Any], good: Callable[[Any], bool]) -> Any:
    """Poll another process's state until ``good`` or SETTLE_SECONDS; return the last value."""
    deadline = time.monotonic() + SETTLE_SECONDS
    while True:
        value = await measure() if asyncio.iscoroutinefunction(measure) else measure()
        if good(value) or time.monotonic() > deadline:
            return value
        await asyncio.sleep(0.1)  # polling another process, not synchronisation


async def test_thousands_of_sessions_leave_nothing_behind(soak_server):
    server, database = soak_server
    url = f"{server.url}/apps/topics"
    async with websockets.connect(url) as monitor:
        await login(monitor, "monitor")

        async def stats() -> dict[str, Any]:
            return await request(monitor, {"mt": "Stats"})

        await run_cycles(url, 0, WARM_UP)
        # The monitor's own row stays; every cycle's row must go.
        assert await settle(lambda: session_rows(database), lambda n: n == 1) == 1
        before = await stats()
        fds_before = open_fds(server.pid)
        rss_before = resident_kib(server.pid)
        assert before["groups"] == 0 and before["group_members"] == 0, before

        peak = await peak_fds_while(server.pid, run_cycles(url, WARM_UP, CYCLES))

        rows = await settle(lambda: session_rows(database), lambda n: n == 1)
        after = await settle(
            stats,
            lambda s: (
                s["tasks"] <= before["tasks"] + TASK_TOLERANCE
                and s["channels"] <= before["channels"] + TASK_TOLERANCE
                and s["groups"] == 0
            ),
        )
        fds_after = await settle(
            lambda: open_fds(server.pid), lambda n: n <= fds_before + FD_TOLERANCE
        )
        rss_after = resident_kib(server.pid)

    assert rows == 1, f"{rows - 1} session rows left behind after {CYCLES} cycles"
    assert after["groups"] == 0 and after["group_members"] == 0, after
    assert after["tasks"] <= before["tasks"] + TASK_TOLERANCE, (before, after)
    assert after["channels"] <= before["channels"] + TASK_TOLERANCE, (before, after)
    assert fds_after <= fds_before + FD_TOLERANCE, (fds_before, fds_after)
    # Not a connection of its own per login (a cache client, say), even for a while.
    assert peak <= fds_before + FDS_IN_FLIGHT + FD_TOLERANCE, (fds_before, peak)
    assert rss_after <= rss_before * RSS_GROWTH, (rss_before, rss_after)

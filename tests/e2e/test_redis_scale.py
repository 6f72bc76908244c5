"""Two daphne processes sharing a real Redis channel layer (and one database)."""

from __future__ import annotations

import asyncio
import json
import re
import urllib.request
import uuid
from collections.abc import Iterator

import pytest
from websockets.exceptions import ConnectionClosed

from appws.testing import RedisServer
from tests.conftest import require_tool
from tests.e2e.daphne import DaphneProcess, logged_in, manage, migrate
from tests.e2e.databases import e2e_database

pytestmark = pytest.mark.e2e

ASGI = "tests.e2e.asgi:application"


@pytest.fixture(scope="module")
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer(require_tool("redis-server", "redis-server")).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def cluster(redis_server, tmp_path_factory) -> Iterator[tuple[dict, DaphneProcess, DaphneProcess]]:
    env = {
        "DJANGO_SETTINGS_MODULE": "tests.e2e.settings",
        "APPWS_DEMO_DB": e2e_database(tmp_path_factory.mktemp("cluster")),
        "APPWS_REDIS_URL": redis_server.url,
        "APPWS_REDIS_PREFIX": f"t{uuid.uuid4().hex[:8]}",
        "APPWS_HEARTBEAT_SECONDS": "1",
    }
    migrate(env)
    first = DaphneProcess(ASGI, env=env).start()
    second = DaphneProcess(ASGI, env=env).start()
    yield env, first, second
    first.stop()
    second.stop()


async def open_session(server: DaphneProcess, sip: str = "", app: str = "topics"):
    return await logged_in(f"{server.url}/apps/{app}", app, sip)


async def call(ws, message: dict) -> dict:
    await ws.send(json.dumps(message))
    return json.loads(await ws.recv())


async def subscribe(ws, topic: str, src: str) -> None:
    assert await call(ws, {"mt": "Subscribe", "topic": topic, "src": src}) == {
        "mt": "SubscribeResult",
        "src": src,
    }


async def next_message(ws, timeout: float = 10) -> dict:
    return json.loads(await asyncio.wait_for(ws.recv(), timeout))


async def test_indications_reach_every_process_from_anywhere(cluster):
    env, first, second = cluster
    on_first = await open_session(first, "a")
    on_second = await open_session(second, "b")
    await subscribe(on_first, "news", "first-src")
    await subscribe(on_second, "news", "second-src")

    # From a session on process 2.
    assert await call(on_second, {"mt": "Notify", "topic": "news", "message": {"mt": "N1"}}) == {
        "mt": "NotifyResult"
    }
    assert await next_message(on_first) == {"mt": "N1", "src": "first-src"}
    assert await next_message(on_second) == {"mt": "N1", "src": "second-src"}

    # From a Django view served by process 2.
    body = json.dumps({"topic": "news", "message": {"mt": "N2"}}).encode()
    request = urllib.request.Request(f"{second.http_url}/test/notify", data=body, method="POST")
    await asyncio.to_thread(urllib.request.urlopen, request, timeout=10)
    assert await next_message(on_first) == {"mt": "N2", "src": "first-src"}
    assert await next_message(on_second) == {"mt": "N2", "src": "second-src"}

    # From a management command: a third process.
    await asyncio.to_thread(manage, env, "appws_notify", "news", '{"mt": "N3"}')
    assert await next_message(on_first) == {"mt": "N3", "src": "first-src"}
    assert await next_message(on_second) == {"mt": "N3", "src": "second-src"}
    await on_first.close()
    await on_second.close()


@pytest.mark.parametrize("topic", ["ü/Ä " * 300, "a.b-c_d" * 20, "\u2028\U0001f600 tab\there"])
async def test_topic_names_of_any_text(cluster, topic):
    _env, first, second = cluster
    listener = await open_session(first)
    sender = await open_session(second)
    await subscribe(listener, topic, "t")
    await call(sender, {"mt": "Notify", "topic": topic, "message": {"mt": "Tick"}})
    assert await next_message(listener) == {"mt": "Tick", "src": "t"}
    await listener.close()
    await sender.close()


async def test_live_sessions_and_disconnect_across_processes(cluster):
    env, first, second = cluster
    keep = await open_session(first, "keeper")
    victim = await open_session(second, "victim")
    listed = json.loads(await asyncio.to_thread(manage, env, "appws_sessions", "--json"))
    servers = {row["user"]: row["server"] for row in listed}
    assert {"keeper", "victim"} <= set(servers)
    assert servers["keeper"] != servers["victim"]  # two processes, one list

    out = await asyncio.to_thread(manage, env, "appws_sessions", "--disconnect", "--sip", "victim")
    assert "Disconnected 1 session(s)." in out
    with pytest.raises(ConnectionClosed) as closed:
        await asyncio.wait_for(victim.recv(), 10)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4000
    assert (await call(keep, {"mt": "Echo", "still": 1}))["still"] == 1
    await keep.close()


async def test_redis_restart_under_live_sessions(cluster, redis_server):
    _env, first, second = cluster
    listener = await open_session(first)
    sender = await open_session(second)
    await subscribe(listener, "restart", "r")

    redis_server.stop()
    # The sessions stay open: plain requests need no channel layer.
    assert (await call(listener, {"mt": "Echo", "during": 1}))["during"] == 1
    reply = await call(listener, {"mt": "Subscribe", "topic": "other", "src": "o"})
    assert reply["error"] == "unavailable"

    redis_server.start()
    # The subscription made before the outage is restored once Redis is back;
    # notify until the listener has rejoined (indications sent before that are lost).
    received = None
    for _attempt in range(100):
        await call(sender, {"mt": "Notify", "topic": "restart", "message": {"mt": "Back"}})
        try:
            received = await next_message(listener, timeout=0.2)
            break
        except TimeoutError:
            continue
    assert received == {"mt": "Back", "src": "r"}
    assert first.running and second.running
    fresh = await open_session(second)
    await subscribe(fresh, "restart", "f")
    await listener.close()
    await sender.close()
    await fresh.close()


async def test_indications_dropped_for_a_full_channel_are_logged_with_the_topic(cluster):
    _env, first, second = cluster
    busy = await open_session(first)
    sender = await open_session(second)
    await subscribe(busy, "flood", "f")
    # Its process reads nothing now (a session's own busy handler no longer stops the
    # reading: its indications wait in the session's queue instead).
    await busy.send(json.dumps({"mt": "Block", "seconds": 3}))
    for number in range(30):  # the layer holds 20 per channel in these tests
        await call(sender, {"mt": "Notify", "topic": "flood", "message": {"mt": "F", "n": number}})
    # An "End" queued behind the floods closes the stream; it is sent again until one
    # finds room (the queue may still be full), and arrives after every F that did.
    numbers: list[int] = []
    for _attempt in range(50):
        await call(sender, {"mt": "Notify", "topic": "flood", "message": {"mt": "End"}})
        try:
            while (message := await next_message(busy, timeout=0.5))["mt"] != "End":
                if message["mt"] == "F":
                    numbers.append(message["n"])
            break
        except TimeoutError:
            continue
    missed = 30 - len(numbers)
    assert 0 < missed < 30
    # Read the log only now: the sending process has long written its warnings.
    log = "".join(second.output)
    assert "indication for topic 'flood' not delivered to 1 of 1 subscribed channel(s)" in log
    dropped = int(re.findall(r"(\d+) dropped in this process so far", log)[-1])
    assert dropped >= missed  # every copy that did not arrive was counted (process total)
    assert numbers == sorted(numbers)  # what arrives, arrives in order
    await busy.close()
    await sender.close()


async def test_the_admin_disconnects_a_session_held_by_the_other_process(cluster):
    from playwright.async_api import async_playwright

    from tests.e2e.browser import CHROMIUM_FLAGS

    env, first, second = cluster
    chromium = require_tool("chromium", "chromium")
    admin_env = {**env, "DJANGO_SUPERUSER_PASSWORD": "admin-e2e-password"}
    await asyncio.to_thread(
        manage,
        admin_env,
        "createsuperuser",
        "--noinput",
        "--username",
        "boss",
        "--email",
        "boss@example.com",
    )
    victim = await open_session(second, "remote-victim")
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_FLAGS)
        page = await browser.new_page()
        await page.goto(f"{first.http_url}/admin/login/?next=/admin/appws/livesession/")
        await page.fill("#id_username", "boss")
        await page.fill("#id_password", "admin-e2e-password")
        await page.click("input[type=submit]")
        row = page.locator("#result_list tr", has_text="remote-victim")
        await row.locator("input.action-select").check()
        await page.select_option("select[name=action]", "disconnect")
        await page.click("button[name=index]")
        await page.locator(".messagelist", has_text="Disconnected 1 session").wait_for()
        await browser.close()
    with pytest.raises(ConnectionClosed) as closed:
        await asyncio.wait_for(victim.recv(), 10)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4000

"""Clients that send and never read cannot make a real daphne buffer without bound.

Daphne (autobahn) writes replies into the socket's buffer and keeps what the client
does not read in memory. Two things end such a connection: daphne's keepalive ping,
which a client that reads nothing never answers (``--ping-interval``/``--ping-timeout``),
and appws's rate limit, which closes a session that keeps sending past it. Meanwhile
other sessions are served as usual. See docs/security.md, "Slow readers".
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import struct
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import websockets
from websockets.exceptions import ConnectionClosed

from appws import protocol
from tests.e2e.daphne import DaphneProcess, migrate
from tests.e2e.databases import e2e_database, e2e_rows
from tests.security_cases import FLOOD_CLOSE_CODE

pytestmark = pytest.mark.e2e

PING_INTERVAL = 1
PING_TIMEOUT = 2
# Ping interval and timeout, plus daphne's own timeout check (every couple of seconds).
CLOSE_WITHIN = 10.0
RSS_GROWTH_LIMIT_MB = 100
SEND_SECONDS = 3.0
PADDING = "x" * 32 * 1024  # each Echo reply carries it back: 32 KiB the client never reads


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[DaphneProcess, str]]:
    database = e2e_database(tmp_path)
    env = {
        "DJANGO_SETTINGS_MODULE": "tests.e2e.settings",
        "APPWS_DEMO_DB": database,
        "DJANGO_DEBUG": "0",
    }
    migrate(env)
    daphne = DaphneProcess(
        "tests.e2e.asgi:application",
        env=env,
        args=["--ping-interval", str(PING_INTERVAL), "--ping-timeout", str(PING_TIMEOUT)],
    ).start()
    yield daphne, database
    daphne.stop()


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def has_session(database: str, sip: str) -> bool:
    query = "SELECT COUNT(*) FROM appws_livesession WHERE sip = %s"
    ((found,),) = e2e_rows(database, query, (sip,))
    return bool(found > 0)


class RawClient:
    """A WebSocket client written by hand, so that it can stop reading altogether."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def connect(cls, port: int, path: str) -> RawClient:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        key = base64.b64encode(os.urandom(16)).decode()
        writer.write(
            (
                f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                "Sec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )
        head = await reader.readuntil(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 101"), head
        return cls(reader, writer)

    async def send_json(self, message: dict[str, Any]) -> None:
        payload = json.dumps(message).encode()
        length = len(payload)
        if length < 126:
            header = bytes([0x81, 0x80 | length])
        elif length < 1 << 16:
            header = bytes([0x81, 0x80 | 126]) + struct.pack("!H", length)
        else:
            header = bytes([0x81, 0x80 | 127]) + struct.pack("!Q", length)
        mask = os.urandom(4)
        keystream = (mask * (length // 4 + 1))[:length]
        masked = (int.from_bytes(payload, "big") ^ int.from_bytes(keystream, "big")).to_bytes(
            length, "big"
        )
        self.writer.write(header + mask + masked)
        await self.writer.drain()

    async def receive_json(self) -> dict[str, Any]:
        first, second = await self.reader.readexactly(2)
        assert first & 0x0F == 1, "expected a text frame"
        length = second & 0x7F
        if length == 126:
            (length,) = struct.unpack("!H", await self.reader.readexactly(2))
        elif length == 127:
            (length,) = struct.unpack("!Q", await self.reader.readexactly(8))
        reply: dict[str, Any] = json.loads(await self.reader.readexactly(length))
        return reply

    async def login(self, sip: str) -> None:
        await self.send_json({"mt": "AppChallenge"})
        challenge = (await self.receive_json())["challenge"]
        message = {"mt": "AppLogin", "app": "topics", "sip": sip}
        message["digest"] = protocol.login_digest(message, challenge, "topics")
        await self.send_json(message)
        assert (await self.receive_json())["ok"] is True

    async def wait_closed(self, timeout: float) -> None:
        """Read (at last) until the server's end is gone: EOF or reset."""

        async def drain() -> None:
            try:
                while await self.reader.read(1 << 16):
                    pass
            except ConnectionError:
                pass

        await asyncio.wait_for(drain(), timeout)
        self.writer.close()


async def websocket_login(url: str, sip: str) -> Any:
    ws = await websockets.connect(url)
    await ws.send(json.dumps({"mt": "AppChallenge"}))
    challenge = json.loads(await ws.recv())["challenge"]
    message = {"mt": "AppLogin", "app": "topics", "sip": sip}
    message["digest"] = protocol.login_digest(message, challenge, "topics")
    await ws.send(json.dumps(message))
    assert json.loads(await ws.recv())["ok"] is True
    return ws


async def keep_asking(ws: Any, done: asyncio.Event) -> int:
    """Echo round trips until ``done``; each must be answered promptly. Return the count."""
    count = 0
    while not done.is_set():
        await ws.send(json.dumps({"mt": "Echo", "n": count, "src": "good"}))
        reply = json.loads(await asyncio.wait_for(ws.recv(), 5))
        assert reply == {"mt": "EchoResult", "n": count, "src": "good"}, reply
        count += 1
        await asyncio.sleep(0.05)  # a polite client's pace, not synchronisation
    return count


async def wait_until_gone(database: str, sip: str, within: float) -> float:
    """Poll the server's session rows; return how long it took for ``sip``'s to go."""
    start = time.monotonic()
    while has_session(database, sip):
        assert time.monotonic() - start < within, f"the session of {sip} is still open"
        await asyncio.sleep(0.1)  # polling another process's database
    return time.monotonic() - start


async def test_a_client_that_stops_reading_is_dropped(server):
    daphne, database = server
    url = f"{daphne.url}/apps/topics"
    good = await websocket_login(url, "good")
    rss_before = rss_mb(daphne.pid)
    slow = await RawClient.connect(daphne.port, "/apps/topics")
    await slow.login("slow")

    async def send_and_never_read(done: asyncio.Event) -> int:
        sent = 0
        deadline = time.monotonic() + SEND_SECONDS
        while time.monotonic() < deadline:
            await slow.send_json({"mt": "Echo", "pad": PADDING, "src": str(sent)})
            sent += 1
            await asyncio.sleep(1 / 25)  # under RATE_LIMIT (50/s): never refused
        done.set()
        return sent

    done = asyncio.Event()
    sent, answered = await asyncio.gather(send_and_never_read(done), keep_asking(good, done))
    assert sent > 25 and answered > 0
    # The client now neither reads nor sends: it never answers daphne's ping either.
    gone_after = await wait_until_gone(database, "slow", CLOSE_WITHIN)
    await slow.wait_closed(CLOSE_WITHIN)
    assert gone_after < CLOSE_WITHIN
    await good.send(json.dumps({"mt": "Echo", "after": True}))
    assert json.loads(await good.recv()) == {"mt": "EchoResult", "after": True}
    await good.close()
    assert rss_mb(daphne.pid) - rss_before < RSS_GROWTH_LIMIT_MB


async def test_a_client_that_floods_without_reading_is_closed(server):
    daphne, database = server
    url = f"{daphne.url}/apps/topics"
    good = await websocket_login(url, "good")
    rss_before = rss_mb(daphne.pid)
    slow = await RawClient.connect(daphne.port, "/apps/topics")
    await slow.login("flood")

    async def flood(done: asyncio.Event) -> int:
        """Send ten times RATE_LIMIT until the server ends the session (bounded)."""
        sent = 0
        deadline = time.monotonic() + CLOSE_WITHIN
        try:
            while time.monotonic() < deadline and has_session(database, "flood"):
                for _ in range(10):
                    await slow.send_json({"mt": "Echo", "pad": "x" * 1024, "src": str(sent)})
                    sent += 1
                # About 500 requests a second: far over the limit, yet no more than
                # daphne parses with time to spare (see "Limit" in docs/security.md).
                await asyncio.sleep(0.02)
        except ConnectionError:
            pass  # the server is gone: what this test waits for
        done.set()
        return sent

    done = asyncio.Event()
    sent, _answered = await asyncio.gather(flood(done), keep_asking(good, done))
    assert not has_session(database, "flood"), f"still open after {sent} requests"
    await slow.wait_closed(CLOSE_WITHIN)
    await good.send(json.dumps({"mt": "Echo", "after": True}))
    assert json.loads(await good.recv()) == {"mt": "EchoResult", "after": True}
    await good.close()
    assert rss_mb(daphne.pid) - rss_before < RSS_GROWTH_LIMIT_MB


@pytest.mark.parametrize("logged_in", [True, False], ids=["flood", "pre-login-flood"])
async def test_flood_close_code_reaches_a_real_client(server, logged_in):
    """daphne must be able to send the close code appws documents for floods."""
    daphne, _database = server
    url = f"{daphne.url}/apps/topics"
    if logged_in:
        ws = await websocket_login(url, "flooder")
        flood = [{"mt": "Echo", "src": str(n)} for n in range(400)]
    else:
        ws = await websockets.connect(url)
        flood = [{"mt": "AppChallenge"} for _ in range(30)]
    for message in flood:
        await ws.send(json.dumps(message))
    with pytest.raises(ConnectionClosed) as closed:
        while True:
            await asyncio.wait_for(ws.recv(), CLOSE_WITHIN)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == FLOOD_CLOSE_CODE
    assert "Traceback" not in "".join(daphne.output)

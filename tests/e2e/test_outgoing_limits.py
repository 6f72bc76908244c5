"""Large messages against a real daphne: what it refuses to send, and what it refuses to read.

daphne (autobahn) fails a connection it is handed a frame over its
``--websocket-max-message-size`` for (1011), and drops the TCP connection without a
close frame when a client sends one (1006). appws keeps its own frames below that
limit, so one large reply or broadcast closes nobody. See docs/errors.md.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed

from tests.e2e.daphne import DaphneProcess, logged_in, services_server
from tests.e2e.databases import e2e_database

pytestmark = pytest.mark.e2e

WAIT = 10.0
DAPHNE_LIMIT = 1024 * 1024


@pytest.fixture(scope="module")
def daphne(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DaphneProcess]:
    with services_server(e2e_database(tmp_path_factory.mktemp("outgoing"))) as server:
        yield server


async def login(url: str, app: str, sip: str) -> Any:
    return await logged_in(url, app, sip, max_size=None)


async def receive(ws: Any) -> dict[str, Any]:
    reply: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), WAIT))
    return reply


def utf8_frame(message: dict[str, Any]) -> str:
    frame = json.dumps(message, ensure_ascii=False)
    assert len(frame.encode("utf-8")) < DAPHNE_LIMIT  # a request daphne reads
    return frame


async def test_an_echo_of_a_large_non_ascii_request_is_answered(daphne):
    ws = await login(f"{daphne.url}/apps/echo", "echo", "big")
    # 1,020,000 bytes of UTF-8; escaped as \u20ac the reply was 2 MB and daphne closed (1011).
    await ws.send(utf8_frame({"mt": "Echo", "text": "€" * 340_000, "src": "1"}))
    reply = await receive(ws)
    assert reply["error"] == "too-large" and reply["src"] == "1", reply
    await ws.send(utf8_frame({"mt": "Echo", "text": "€" * 300_000, "src": "2"}))
    assert await receive(ws) == {"mt": "EchoResult", "text": "€" * 300_000, "src": "2"}
    await ws.close()
    assert "Traceback" not in "".join(daphne.output)


async def test_a_broadcast_over_the_limit_keeps_every_subscriber_open(daphne):
    url = f"{daphne.url}/apps/topics"
    sessions = [await login(url, "topics", sip) for sip in ("one", "two")]
    for n, ws in enumerate(sessions):
        await ws.send(json.dumps({"mt": "Subscribe", "topic": "big", "src": f"s{n}"}))
        assert await receive(ws) == {"mt": "SubscribeResult", "src": f"s{n}"}
    big = {"mt": "Big", "text": "é" * 510_000}  # 1,020,000 bytes of UTF-8
    await sessions[0].send(utf8_frame({"mt": "Notify", "topic": "big", "message": big}))
    assert await receive(sessions[0]) == {"mt": "NotifyResult"}
    small = {"mt": "Small"}
    await sessions[0].send(json.dumps({"mt": "Notify", "topic": "big", "message": small}))
    # The reply and the indication (through the channel layer) come in either order.
    got = [await receive(sessions[0]), await receive(sessions[0])]
    assert sorted(got, key=lambda m: m["mt"]) == [{"mt": "NotifyResult"}, {**small, "src": "s0"}]
    assert await receive(sessions[1]) == {"mt": "Small", "src": "s1"}
    for ws in sessions:
        await ws.close()
    output = "".join(daphne.output)
    assert "Traceback" not in output
    assert "over MAX_OUTGOING_BYTES" in output


async def test_a_frame_over_daphnes_limit_is_dropped_without_a_close_frame(daphne):
    """What docs/errors.md says: daphne's own limit ends the connection (1006)."""
    ws = await login(f"{daphne.url}/apps/echo", "echo", "huge")
    await ws.send(json.dumps({"mt": "Echo", "pad": "x" * DAPHNE_LIMIT}))
    with pytest.raises(ConnectionClosed) as closed:
        await receive(ws)
    assert closed.value.rcvd is None  # no close frame: the client reports 1006

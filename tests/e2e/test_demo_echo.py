"""The demo's Echo App Service over a real socket, against a real daphne."""

from __future__ import annotations

import json

import pytest
import websockets
from websockets.exceptions import ConnectionClosed

from appws import protocol
from tests.e2e.conftest import ECHO_PASSWORD

pytestmark = pytest.mark.e2e


async def receive(ws) -> dict:
    return json.loads(await ws.recv())


async def login(ws, password: str = ECHO_PASSWORD, **fields) -> dict:
    await ws.send(json.dumps({"mt": "AppChallenge"}))
    challenge = (await receive(ws))["challenge"]
    message = {"mt": "AppLogin", "app": "echo", **fields}
    message["digest"] = protocol.login_digest(message, challenge, password)
    await ws.send(json.dumps(message))
    return await receive(ws)


async def test_login_and_echo(demo_server):
    async with websockets.connect(f"{demo_server.url}/apps/echo") as ws:
        result = await login(ws, sip="alice", dn="Alice")
        assert result == {"mt": "AppLoginResult", "ok": True, "domain": "127.0.0.1"}
        await ws.send(json.dumps({"mt": "Echo", "text": "héllo\u2028", "n": [1, 2.5], "src": "e1"}))
        assert await receive(ws) == {
            "mt": "EchoResult",
            "text": "héllo\u2028",
            "n": [1, 2.5],
            "src": "e1",
        }


async def test_wrong_password_closes_with_4401(demo_server):
    async with websockets.connect(f"{demo_server.url}/apps/echo") as ws:
        result = await login(ws, password="not-it")
        assert result["ok"] is False and "wrong digest" in result["errorText"]
        with pytest.raises(ConnectionClosed) as closed:
            await ws.recv()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401


async def test_not_logged_in_and_bad_frames_keep_the_connection(demo_server):
    async with websockets.connect(f"{demo_server.url}/apps/echo") as ws:
        await ws.send(json.dumps({"mt": "Echo", "src": "early"}))
        assert (await receive(ws))["error"] == "not-logged-in"
        await login(ws)
        await ws.send("{oops")
        assert (await receive(ws))["error"] == "not-json"
        await ws.send(b"\x00\x01")
        assert (await receive(ws))["error"] == "binary"
        await ws.send(json.dumps({"mt": "Echo", "pad": "x" * (1024 * 1024 + 1)}))
        reply = await receive(ws)
        assert reply["mt"] == "Error" and reply["error"] == "too-large"
        await ws.send(json.dumps({"mt": "Echo", "after": True, "src": "s"}))
        assert await receive(ws) == {"mt": "EchoResult", "after": True, "src": "s"}


async def test_subscription_reaches_every_session_with_its_own_src(demo_server):
    url = f"{demo_server.url}/apps/echo"
    async with websockets.connect(url) as alice, websockets.connect(url) as bob:
        await login(alice, sip="alice")
        await login(bob, sip="bob")
        await alice.send(json.dumps({"mt": "SubscribeEcho", "src": "a-sub"}))
        assert await receive(alice) == {"mt": "SubscribeEchoResult", "src": "a-sub"}
        await bob.send(json.dumps({"mt": "SubscribeEcho", "src": "b-sub"}))
        assert await receive(bob) == {"mt": "SubscribeEchoResult", "src": "b-sub"}

        await bob.send(json.dumps({"mt": "Broadcast", "text": "hi all", "src": "b-cast"}))
        bob_got = [await receive(bob), await receive(bob)]
        assert {"mt": "BroadcastResult", "src": "b-cast"} in bob_got
        assert {"mt": "EchoBroadcast", "text": "hi all", "from": "bob", "src": "b-sub"} in bob_got
        assert await receive(alice) == {
            "mt": "EchoBroadcast",
            "text": "hi all",
            "from": "bob",
            "src": "a-sub",
        }

        await alice.send(json.dumps({"mt": "UnsubscribeEcho", "src": "a-sub"}))
        assert await receive(alice) == {
            "mt": "UnsubscribeEchoResult",
            "ended": True,
            "src": "a-sub",
        }
        await bob.send(json.dumps({"mt": "Broadcast", "text": "second", "src": "b2"}))
        assert len([await receive(bob), await receive(bob)]) == 2
        # Alice unsubscribed: her next message is the reply to her own request.
        await alice.send(json.dumps({"mt": "Echo", "src": "a-check"}))
        assert await receive(alice) == {"mt": "EchoResult", "src": "a-check"}

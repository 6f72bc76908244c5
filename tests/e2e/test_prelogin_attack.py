"""Clients that know no password send the costliest frames allowed, at once, against a real
daphne, while a logged-in session keeps making requests.

Every assertion is about what comes back, never about how long it took: over-limit frames
are refused by their size or their count of objects and arrays (so never parsed), frames
within the limits are answered, each refused login closes its connection, and the other
session gets every reply, in order. How much the attack slows that session is measured by
the bench (``python -m bench``, workload 8), not here.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import websockets
from websockets.exceptions import ConnectionClosed

from appws import protocol
from bench.attack import keys_frame, nested_frame, oversized_frame
from tests.e2e.daphne import DaphneProcess, migrate
from tests.e2e.databases import e2e_database
from tests.security_cases import many_objects_login

pytestmark = pytest.mark.e2e

ATTACKERS = 4
# Two each: eight failed logins stay below LOGIN_FAILURE_LIMIT (10) for one address.
CONNECTIONS_PER_ATTACKER = 2
BEFORE_LOGIN = "the limit before login"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[DaphneProcess]:
    env = {"DJANGO_SETTINGS_MODULE": "demo_site.settings", "APPWS_DEMO_DB": e2e_database(tmp_path)}
    migrate(env)
    daphne = DaphneProcess(env=env).start()  # daphne's own limit: 1 MiB
    yield daphne
    daphne.stop()


async def receive(ws: Any) -> dict[str, Any]:
    reply: dict[str, Any] = json.loads(await ws.recv())
    return reply


async def attack_once(url: str, login_frame: str) -> list[dict[str, Any]]:
    """One connection: the worst frames, then a login with a wrong digest; the replies."""
    frames = [
        oversized_frame(),  # 1,000,000 bytes: over the limit before login
        many_objects_login(),  # 1,026 objects and arrays: over MAX_LOGIN_CONTAINERS
        nested_frame("Echo", app="echo"),  # at the limits: parsed, not logged in
        keys_frame("Echo", app="echo"),
        login_frame,
    ]
    replies = []
    async with websockets.connect(url, max_size=None, compression=None) as ws:
        await ws.send('{"mt":"AppChallenge"}')
        replies.append(await receive(ws))
        for frame in frames:
            await ws.send(frame)
            replies.append(await receive(ws))
        with pytest.raises(ConnectionClosed) as closed:
            await ws.recv()
        assert closed.value.rcvd is not None
        replies.append({"closed": closed.value.rcvd.code})
    return replies


async def attacker(url: str) -> list[list[dict[str, Any]]]:
    logins = [nested_frame(app="echo"), keys_frame(app="echo")]
    return [await attack_once(url, logins[turn % 2]) for turn in range(CONNECTIONS_PER_ATTACKER)]


async def victim(url: str, attack_over: asyncio.Event) -> int:
    """Echo round trips on a logged-in session until the attack is over; how many."""
    async with websockets.connect(url) as ws:
        await ws.send('{"mt":"AppChallenge"}')
        challenge = (await receive(ws))["challenge"]
        login: dict[str, Any] = {"mt": "AppLogin", "app": "echo", "sip": "victim"}
        login["digest"] = protocol.login_digest(login, challenge, "echo")
        await ws.send(json.dumps(login))
        assert (await receive(ws))["ok"] is True
        count = 0
        while not attack_over.is_set() or count == 0:
            await ws.send(json.dumps({"mt": "Echo", "n": count, "src": str(count)}))
            assert await receive(ws) == {"mt": "EchoResult", "n": count, "src": str(count)}
            count += 1
            # A well-behaved client: below RATE_LIMIT (50/s), so every reply is an answer.
            # Pacing, not synchronisation: nothing waits for anything to happen.
            await asyncio.sleep(1 / 40)
        return count


def shape(reply: dict[str, Any]) -> tuple[Any, ...]:
    """What a reply says, without the parts that vary (the challenge, the texts' numbers)."""
    if "closed" in reply:
        return ("closed", reply["closed"])
    if reply["mt"] == "Error":
        return ("Error", reply["error"], BEFORE_LOGIN in reply["errorText"])
    if reply["mt"] == "AppLoginResult":
        return ("AppLoginResult", reply["ok"], reply["errorText"])
    return (reply["mt"], reply.get("error"))


async def test_attackers_get_refusals_and_the_victim_every_reply(server: DaphneProcess) -> None:
    url = f"{server.url}/apps/echo"
    attack_over = asyncio.Event()
    victim_task = asyncio.create_task(victim(url, attack_over))
    try:
        results = await asyncio.gather(*(attacker(url) for _ in range(ATTACKERS)))
    finally:
        attack_over.set()
    assert await victim_task >= 1

    expected = [
        ("AppChallengeResult", None),
        ("Error", "too-large", True),  # by its size
        ("Error", "too-large", True),  # by its objects and arrays
        ("EchoResult", "not-logged-in"),
        ("EchoResult", "not-logged-in"),
        ("AppLoginResult", False, "wrong digest: check the App's password"),
        ("closed", 4401),
    ]
    connections = [replies for result in results for replies in result]
    assert len(connections) == ATTACKERS * CONNECTIONS_PER_ATTACKER
    for replies in connections:
        assert [shape(reply) for reply in replies] == expected

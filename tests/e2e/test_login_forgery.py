"""The login-forgery attack on the digest's field join, against the demo under daphne.

A user who may open an App asks the site's login issuer for logins and re-splits
what it signs (docs/security.md, "What the login digest's field join can and
cannot tell apart"). Both ways in are closed: the issuer signs no challenge that
could carry fields, and the service refuses fields that shift the join.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest
import websockets

from appws.client import LoginRefused, SiteLogin
from appws.protocol import js_stringify
from tests.e2e.daphne import DaphneProcess, provisioned_demo
from tests.e2e.databases import e2e_database

pytestmark = pytest.mark.e2e

WAIT = 30  # s: a bound for replies crossing processes, not a measurement


@pytest.fixture(scope="module")
def notes_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DaphneProcess]:
    """The demo with its users (alice may open notes) and Apps provisioned."""
    with provisioned_demo(e2e_database(tmp_path_factory.mktemp("forgery"))) as server:
        yield server


async def _exchange(socket: Any, message: dict[str, Any]) -> dict[str, Any]:
    await socket.send(json.dumps(message))
    reply: dict[str, Any] = json.loads(await asyncio.wait_for(socket.recv(), WAIT))
    return reply


async def _challenge(socket: Any) -> str:
    reply = await _exchange(socket, {"mt": "AppChallenge"})
    challenge: str = reply["challenge"]
    return challenge


async def test_a_chosen_challenge_carrying_a_victims_fields_is_not_signed(notes_site):
    alice = SiteLogin(f"{notes_site.http_url}/appws/login", username="alice", password="alice-demo")
    async with websockets.connect(f"{notes_site.url}/apps/notes") as socket:
        real = await _challenge(socket)
        # Signed, this would re-split into a login whose domain swallows alice's
        # fields and whose sip is bob's.
        chosen = f"bob:{'0' * 32}:Bob Example:{real}"
        with pytest.raises(LoginRefused) as refused:
            await alice("notes", chosen)
    assert refused.value.error == "bad-request"
    assert refused.value.reply is not None
    assert refused.value.reply["errorText"].startswith(
        "'challenge' must be 1 to 16 letters or digits (A-Z, a-z, 0-9)"
    )


async def test_an_issued_login_with_its_info_folded_into_dn_is_refused(notes_site):
    alice = SiteLogin(f"{notes_site.http_url}/appws/login", username="alice", password="alice-demo")
    async with websockets.connect(f"{notes_site.url}/apps/notes") as socket:
        issued = await alice("notes", await _challenge(socket))
        # Same digest, no info: it would pass for a login made with the App's password.
        forged = {key: value for key, value in issued.items() if key != "info"}
        forged["dn"] = f"{issued['dn']}:{js_stringify(issued['info'])}"
        reply = await _exchange(socket, {"mt": "AppLogin", **forged})
        assert reply["ok"] is False
        assert reply["errorText"].startswith("AppLogin field 'dn' must not contain ':'")
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(socket.recv(), WAIT)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401

    # The login as issued is fine.
    async with websockets.connect(f"{notes_site.url}/apps/notes") as socket:
        issued = await alice("notes", await _challenge(socket))
        assert (await _exchange(socket, {"mt": "AppLogin", **issued}))["ok"] is True

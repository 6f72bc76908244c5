"""Badge counts across processes: the FakePbx on process A, the counts set on process B.

The demo's notes service (``badge_apps = ("notes",)``) under two daphne processes
sharing a database and a real redis-server: a user's badge subscription gets its first
count on A, then the counts that a note added on B, and ``appws.badges.set`` in a view
on B, send to it; nothing reaches a call after its ``rel``.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from appws.client import Client, Credentials
from appws.testing import FakePbx
from appws.testing.fakepbx import PresenceCall
from tests.e2e.clusters import post_json, two_daphnes
from tests.e2e.daphne import ROOT, DaphneProcess

pytestmark = pytest.mark.e2e

PASSWORD = "notes-e2e"  # the notes App in APPWS["APPS"] (tests/e2e/settings.py)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory) -> Iterator[tuple[DaphneProcess, DaphneProcess]]:
    with two_daphnes(tmp_path_factory.mktemp("badges"), APPWS_NOTES_PASSWORD=PASSWORD) as c:
        yield c.first, c.second


def set_badge(server: DaphneProcess, user: str, count: int) -> dict[str, Any]:
    status, result = post_json(
        server, "/test/badge", {"app": "notes", "user": user, "count": count}
    )
    assert status == 200, (status, result)
    return result


def user(server: DaphneProcess, sip: str) -> Client:
    """A user of the notes App on ``server`` (a password login as ``sip``)."""
    credentials = Credentials(sip=sip, dn=sip.title())
    return Client(f"{server.url}/apps/notes", "notes", password=PASSWORD, credentials=credentials)


async def next_badge(pbx: FakePbx, call: PresenceCall, since: int) -> int:
    """The first badge count sent on ``call`` after frame ``since`` (waits for it)."""
    await pbx.wait_for(
        direction="received", api="PbxSignal", mt="Signaling", call=call.call, src="badge",
        since=since,
    )  # fmt: skip
    assert call.badge is not None
    return call.badge


async def test_counts_set_on_b_reach_the_subscription_on_a(cluster) -> None:
    first, second = cluster
    pbx = FakePbx(
        f"{first.url}/apps/notes", password=PASSWORD, sip="notes", pbx="pbx-a", apis=["PbxSignal"]
    )
    async with pbx, user(second, "bob") as bob:
        await pbx.wait_for(direction="received", api="PbxSignal", mt="Register")
        await bob.request({"mt": "AddNote", "text": "from bob, on B"})

        mark = pbx.mark()
        alice = await pbx.subscribe_presence("alice")
        assert await next_badge(pbx, alice, mark) == 1  # get_badge, on A
        assert alice.connected

        mark = pbx.mark()
        await bob.request({"mt": "AddNote", "text": "another one"})  # on B
        assert await next_badge(pbx, alice, mark) == 2

        mark = pbx.mark()
        assert await asyncio.to_thread(set_badge, second, "alice", 7) == {"sent": 1}
        assert await next_badge(pbx, alice, mark) == 7
        await asyncio.to_thread(set_badge, second, "alice", 7)  # the same: not sent again
        mark = pbx.mark()
        await asyncio.to_thread(set_badge, second, "alice", 8)
        assert await next_badge(pbx, alice, mark) == 8
        assert alice.badges == [1, 2, 7, 8]

        # Another App object's presence is no badge call of this one: released.
        other = await pbx.subscribe_presence("carol", app="someone-else")
        await pbx.wait_for(direction="received", api="PbxSignal", call=other.call)
        assert other.released_by_service and not other.connected

        # After rel nothing more goes to the call; counts set later go to later calls only.
        await pbx.release(alice)
        await asyncio.to_thread(set_badge, second, "alice", 9)
        mark = pbx.mark()
        carol = await pbx.subscribe_presence("carol")
        assert await next_badge(pbx, carol, mark) == 2  # never listed: both of bob's notes
        mark = pbx.mark()
        await asyncio.to_thread(set_badge, second, "carol", 4)
        assert await next_badge(pbx, carol, mark) == 4
        # The count for alice was sent (in order) before carol's: none reached her call.
        on_alice = pbx.received(api="PbxSignal", mt="Signaling", call=alice.call)
        assert [m["sig"]["type"] for m in on_alice].count("facility") == 4


async def test_appws_fakepbx_subscribes_badges_and_prints_the_counts(cluster) -> None:
    # The README's demo: manage.py appws_fakepbx --badges against the notes service.
    first, second = cluster
    env = {
        **os.environ,
        **first.env,
        "NOTES_PBX_PASSWORD": PASSWORD,
        "PYTHONUNBUFFERED": "1",
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable, "manage.py", "appws_fakepbx", f"{first.url}/apps/notes",
        "--password-env", "NOTES_PBX_PASSWORD", "--pbx", "pbx-cmd", "--badges", "dora,eve",
        cwd=ROOT, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    assert process.stdout is not None
    lines: list[str] = []

    def counts() -> list[str]:
        return [line for line in lines if "'facility' '#badge:" in line]

    async def read_until(text: str, facilities: int = 0) -> None:
        while not any(text in line for line in lines) or len(counts()) < facilities:
            line = await asyncio.wait_for(process.stdout.readline(), 30)  # type: ignore[union-attr]
            assert line, "\n".join(lines)
            lines.append(line.decode().rstrip("\n"))

    try:
        await read_until("Subscribed to the badge of 'eve'")
        await read_until("'#badge:", 2)  # the first counts, from get_badge
        assert any(line.startswith("<- 'PbxSignal' 'Register'") for line in lines)
        assert "Subscribed to the badge of 'dora' (call -1)" in lines
        async with user(second, "frank") as frank:
            await frank.request({"mt": "AddNote", "text": "for dora and eve"})
        await read_until("'#badge:", 4)  # one more for each, after the new note
    finally:
        process.send_signal(signal.SIGINT)
        await asyncio.wait_for(process.communicate(), 30)
    # Both never listed the notes: every note by others counts, then one more.
    by_call: dict[str, list[int]] = {}
    for line in counts():
        call = line.split(" call=")[1].split()[0]
        by_call.setdefault(call, []).append(int(line.rsplit("#badge:", 1)[1].rstrip("'")))
    (first_count, _), _ = by_call.values()
    assert by_call == {"-1": [first_count, first_count + 1], "-2": [first_count, first_count + 1]}

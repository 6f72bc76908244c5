"""``appws.server.shutdown.stop_all``: what a graceful stop does to the process's sessions.

The signal handling around it (daphne, uvicorn) is tested end to end in
tests/e2e/test_graceful_stop.py; here the stop runs in the test's own process.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from channels.layers import get_channel_layer

from appws import live_sessions
from appws.models import LiveSession, ServerProcess
from appws.server import shutdown
from appws.server.connection import ConnectionState

pytestmark = pytest.mark.django_db(transaction=True)

NOTES = ("notes", "notes-secret")
CLOSE = {"type": "websocket.close", "code": 4012, "reason": shutdown.REASON}


@pytest.fixture(autouse=True)
def fresh_process(monkeypatch, settings) -> Iterator[None]:
    """Each test stops a process of its own; the test process keeps its signal handlers."""
    settings.APPWS = {**settings.APPWS, "TRACK_SESSIONS": True}
    running = shutdown._Running()
    running.installed = True
    monkeypatch.setattr(shutdown, "_running", running)
    yield
    live_sessions._registry.stopping = False


async def test_every_session_is_closed_with_4012_and_its_row_and_groups_go(connect):
    sessions = [await connect(login=NOTES, sip=f"user{n}") for n in range(5)]
    for number, comm in enumerate(sessions):
        await comm.request({"mt": "Subscribe", "topic": "news", "src": f"s{number}"})
    assert await LiveSession.objects.acount() == 5
    layer = get_channel_layer()
    assert layer is not None
    assert sum(map(len, layer.groups.values())) == 5  # type: ignore[attr-defined]

    await shutdown.stop_all(5)

    for comm in sessions:
        assert await comm.receive_output() == CLOSE
    assert not await LiveSession.objects.aexists()
    assert not await ServerProcess.objects.aexists()
    assert sum(map(len, layer.groups.values())) == 0  # type: ignore[attr-defined]
    assert shutdown._running.consumers == set()


async def test_a_connection_arriving_during_the_stop_is_told_to_reconnect(connect):
    await shutdown.stop_all(5)
    late = await connect()  # the handshake is accepted, to tell the client why
    assert await late.receive_output() == CLOSE
    assert shutdown.stopping()


class Stuck:
    """A session whose end never finishes (its database or channel layer hangs)."""

    state = ConnectionState.LOGGED_IN

    async def end(self, code: int | None, reason: str | None = None, *, log: object = None) -> None:
        await asyncio.Event().wait()


async def test_the_stop_gives_up_on_sessions_after_shutdown_timeout(caplog):
    shutdown.register(Stuck())
    await asyncio.wait_for(shutdown.stop_all(0.01), 10)  # returns, though the end hangs
    assert "1 session(s) did not end within SHUTDOWN_TIMEOUT (0.01 s)" in caplog.text

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
from appws.conf import get_settings
from appws.models import LiveSession, ServerProcess
from appws.server import shutdown
from appws.server.connection import ConnectionState
from appws.server.subscriptions import Subscriptions
from appws.testing import AppwsCommunicator
from tests.services import application

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


async def logged_in(sip: str) -> AppwsCommunicator:
    # Not the connect fixture's: these sessions end with the stop, nothing to disconnect.
    comm = AppwsCommunicator(application, "/apps/notes")
    assert (await comm.login(*NOTES, sip=sip))["ok"] is True
    return comm


async def test_every_session_is_closed_with_4012_and_its_row_and_groups_go():
    sessions = [await logged_in(f"user{n}") for n in range(5)]
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
    assert shutdown._running.consumers == {}
    for comm in sessions:  # ended consumers do not wait for the server's disconnect
        await asyncio.wait({comm.future}, timeout=10)
        assert comm.future.cancelled()


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


class CancelledAsTimeout:
    """A layer whose receive turns its cancellation into TimeoutError, as redis-py's
    read timeout can when the session's task is cancelled (a server's stop)."""

    async def receive(self, channel: str) -> dict[str, str]:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            raise TimeoutError from None
        raise AssertionError("unreachable")

    async def new_channel(self) -> str:
        return "probe!1"


async def test_a_cancelled_receive_ends_instead_of_waiting_out_an_outage():
    subscriptions = Subscriptions(
        None,  # type: ignore[arg-type]  # nothing is sent
        CancelledAsTimeout(),
        "own!1",
        get_settings(),
        "Test",
    )
    task = asyncio.ensure_future(subscriptions.receive())
    await asyncio.sleep(0)  # let it wait on the layer
    task.cancel()
    done, _ = await asyncio.wait({task}, timeout=10)
    assert task in done, "the receive loop outlived its cancelled session"

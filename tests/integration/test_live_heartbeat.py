"""Heartbeats keep a process's rows; a silent process's rows are swept as stale."""

from __future__ import annotations

from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from django.utils import timezone

from appws import live_sessions
from appws.models import App, LiveSession, ServerProcess

pytestmark = pytest.mark.django_db(transaction=True)


def crashed_process_with_a_session() -> LiveSession:
    long_ago = timezone.now() - timedelta(hours=1)
    server = ServerProcess.objects.create(
        ident="deadhost:1:x", hostname="deadhost", pid=1, started=long_ago, last_seen=long_ago
    )
    return LiveSession.objects.create(
        channel_name="gone!1",
        server=server,
        app_name="notes",
        sip="ghost",
        connected_at=long_ago,
        last_activity=long_ago,
    )


async def test_beat_sweeps_stale_processes_and_keeps_live_ones(connect, settings):
    settings.APPWS = {**settings.APPWS, "TRACK_SESSIONS": True}
    await sync_to_async(crashed_process_with_a_session)()
    comm = await connect(login=("notes", "notes-secret"), sip="alive")
    assert await LiveSession.objects.acount() == 2
    await live_sessions.beat()
    assert [row.sip async for row in LiveSession.objects.all()] == ["alive"]
    assert not await ServerProcess.objects.filter(hostname="deadhost").aexists()
    await comm.disconnect()


async def test_beat_records_activity(connect, settings):
    settings.APPWS = {**settings.APPWS, "TRACK_SESSIONS": True}
    comm = await connect(login=("notes", "notes-secret"), sip="busy")
    before = (await LiveSession.objects.aget()).last_activity
    await comm.request({"mt": "ListNotes"})
    await live_sessions.beat()
    assert (await LiveSession.objects.aget()).last_activity >= before
    await comm.disconnect()


async def test_a_process_judged_stale_comes_back_with_its_sessions(connect, settings):
    settings.APPWS = {**settings.APPWS, "TRACK_SESSIONS": True}
    comm = await connect(login=("notes", "notes-secret"), sip="paused")
    await ServerProcess.objects.all().adelete()  # another process swept us after a long pause
    assert not await LiveSession.objects.aexists()
    await live_sessions.beat()
    assert [row.sip async for row in LiveSession.objects.all()] == ["paused"]
    await comm.disconnect()
    assert not await LiveSession.objects.aexists()


async def test_disconnecting_a_stale_row_deletes_it():
    row = await sync_to_async(crashed_process_with_a_session)()
    count = await sync_to_async(live_sessions.disconnect_sessions)(
        LiveSession.objects.filter(pk=row.pk)
    )
    assert count == 1
    assert not await LiveSession.objects.aexists()


def test_stale_cutoff_is_three_heartbeats(settings):
    settings.APPWS = {**settings.APPWS, "HEARTBEAT_SECONDS": 10}
    age = timezone.now() - live_sessions.stale_cutoff()
    assert timedelta(seconds=29) < age <= timedelta(seconds=31)


async def test_live_rows_link_the_app_row(connect, settings):
    settings.APPWS = {**settings.APPWS, "TRACK_SESSIONS": True}
    app = App(name="notes")
    app.set_password("unused: settings win")
    await sync_to_async(app.save)()
    comm = await connect(login=("notes", "notes-secret"))
    assert (await LiveSession.objects.aget()).app_id == app.pk
    await comm.disconnect()


async def test_live_rows_record_the_login_kind(connect, settings):
    settings.APPWS = {**settings.APPWS, "TRACK_SESSIONS": True}
    pbx = await connect(login=("notes", "notes-secret"), sip="obj", info={"appobj": "obj"})
    user = await connect(login=("notes", "notes-secret"), sip="al", info={"appobj": "obj"})
    kinds = {row.sip: row.login_kind async for row in LiveSession.objects.all()}
    assert kinds == {"obj": "pbx", "al": "user"}
    await pbx.disconnect()
    await user.disconnect()


async def test_a_failure_to_record_the_session_does_not_cost_the_login(
    connect, settings, monkeypatch, caplog
):
    settings.APPWS = {**settings.APPWS, "TRACK_SESSIONS": True}

    async def broken(consumer, fields):
        raise RuntimeError("no such table: appws_livesession")

    monkeypatch.setattr(live_sessions, "register", broken)
    comm = await connect(login=("notes", "notes-secret"), sip="untracked")
    assert (await comm.request({"mt": "ListNotes"}))["mt"] == "ListNotesResult"
    assert "could not record the live session" in caplog.text


async def test_a_consumer_ended_by_an_exception_releases_its_row_and_groups(settings):
    from channels.layers import get_channel_layer

    from appws.layer.topics import group_name
    from appws.testing import AppwsCommunicator
    from tests.services import NotesService

    class Exploding(NotesService):
        async def receive_message(self, message, frame):
            if message["mt"] == "Explode":
                raise RuntimeError("a bug below the handlers")
            await super().receive_message(message, frame)

    settings.APPWS = {**settings.APPWS, "TRACK_SESSIONS": True}
    comm = AppwsCommunicator(Exploding.as_asgi(), "/apps/notes")
    assert (await comm.login("notes", "notes-secret", sip="doomed"))["ok"] is True
    await comm.request({"mt": "Subscribe", "topic": "doom", "src": "d"})
    assert await LiveSession.objects.filter(sip="doomed").aexists()
    await comm.send_json_to({"mt": "Explode"})
    with pytest.raises(RuntimeError, match="below the handlers"):
        await comm.receive_output()
    assert not await LiveSession.objects.filter(sip="doomed").aexists()
    assert not get_channel_layer().groups.get(group_name("doom"))

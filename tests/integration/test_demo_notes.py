"""The demo's notes service, through the communicator, with database Apps."""

from __future__ import annotations

import io

import pytest
from asgiref.sync import sync_to_async
from channels.routing import URLRouter
from django.core.management import call_command

from appws.server.routing import service_urls
from appws.testing import AppwsCommunicator
from demo_site.notes.services import NotesService

pytestmark = pytest.mark.django_db(transaction=True)

application = URLRouter(service_urls(NotesService))


@pytest.fixture
async def provisioned(settings):
    # The test settings define Apps called "notes" in APPWS["APPS"]: the demo's are rows.
    settings.APPWS = {**settings.APPWS, "APPS": {}}
    await sync_to_async(call_command)("demo_setup", stdout=io.StringIO())


async def open_app(app: str, *, sip: str = "alice", dn: str = "Alice") -> AppwsCommunicator:
    from appws.models import App

    row = await App.objects.aget(name=app)
    password = await sync_to_async(row.get_password)()
    comm = AppwsCommunicator(application, f"/apps/{app}")
    assert (await comm.login(app, password, sip=sip, dn=dn))["ok"] is True
    return comm


async def test_add_list_and_watch(provisioned):
    watcher = await open_app("notes")
    writer = await open_app("notes")
    assert await watcher.request({"mt": "SubscribeNotes", "src": "w"}) == {
        "mt": "SubscribeNotesResult",
        "src": "w",
    }
    reply = await writer.request({"mt": "AddNote", "text": "  buy milk ", "src": "a"})
    assert reply["note"]["text"] == "buy milk" and reply["note"]["author"] == "Alice"
    event = await watcher.receive_json_from()
    assert event["mt"] == "NoteAdded" and event["src"] == "w" and event["note"] == reply["note"]
    listing = await writer.request({"mt": "ListNotes"})
    assert [n["text"] for n in listing["notes"]] == ["buy milk"]
    assert listing["canDelete"] is False
    await watcher.disconnect()
    await writer.disconnect()


async def test_a_display_name_longer_than_the_author_column_is_cut_on_every_database(
    provisioned,
):
    comm = await open_app("notes", dn="A" * 300)
    reply = await comm.request({"mt": "AddNote", "text": "long name"})
    assert reply["note"]["author"] == "A" * 255
    await comm.disconnect()


async def test_a_sip_longer_than_255_characters_lists_and_adds_on_every_database(
    provisioned,
):
    from demo_site.notes.models import Note, NoteReader

    sip = "s" * 300
    comm = await open_app("notes", sip=sip, dn="Long")
    assert (await comm.request({"mt": "ListNotes"}))["notes"] == []
    assert (await comm.request({"mt": "AddNote", "text": "long sip"}))["note"]["author"] == "Long"
    assert await NoteReader.objects.filter(sip=sip).aexists()
    assert await Note.objects.filter(author_sip=sip).aexists()
    await comm.disconnect()


async def test_only_notes_admin_deletes(provisioned):
    user = await open_app("notes")
    admin = await open_app("notes-admin")
    note = (await user.request({"mt": "AddNote", "text": "x"}))["note"]
    forged = await user.request({"mt": "DeleteNote", "id": note["id"]})
    assert forged["error"] == "forbidden"
    assert (await admin.request({"mt": "ListNotes"}))["canDelete"] is True
    assert await admin.request({"mt": "DeleteNote", "id": note["id"]}) == {
        "mt": "DeleteNoteResult",
        "id": note["id"],
    }
    assert (await admin.request({"mt": "DeleteNote", "id": note["id"]}))["error"] == "not-found"
    await user.disconnect()
    await admin.disconnect()


@pytest.mark.parametrize(
    "message",
    [
        {"mt": "AddNote"},
        {"mt": "AddNote", "text": "   "},
        {"mt": "AddNote", "text": 5},
        {"mt": "AddNote", "text": "x" * 501},
    ],
)
async def test_bad_notes_are_refused(provisioned, message):
    comm = await open_app("notes")
    assert (await comm.request(message))["error"] == "bad-request"
    await comm.disconnect()


async def test_delete_needs_an_integer(provisioned):
    comm = await open_app("notes-admin")
    for bad in ("1", True, None, 1.5):
        assert (await comm.request({"mt": "DeleteNote", "id": bad}))["error"] == "bad-request"
    await comm.disconnect()


def test_demo_setup_is_repeatable_and_prints_logins(capsys):
    call_command("demo_setup")
    call_command("demo_setup")
    out = capsys.readouterr().out
    assert "alice / alice-demo" in out and "admin / admin-demo" in out


async def test_a_note_stored_during_a_layer_outage_is_reported_stored(
    provisioned, monkeypatch, caplog
):
    # Reported "unavailable: try again" before, so the client's retry stored it twice.
    from channels.layers import get_channel_layer

    from appws.layer import capacity
    from demo_site.notes.models import Note

    writer = await open_app("notes")
    layer = get_channel_layer()

    async def unreachable(group, message):
        raise ConnectionRefusedError("the channel layer's server is down")

    monkeypatch.setattr(layer, "group_send", unreachable)
    lost = capacity.lost_notifications()
    reply = await writer.request({"mt": "AddNote", "text": "during the outage", "src": "a"})
    assert reply["mt"] == "AddNoteResult" and "error" not in reply
    assert reply["note"]["text"] == "during the outage"
    assert await Note.objects.filter(text="during the outage").acount() == 1
    assert capacity.lost_notifications() == lost + 1
    assert "indication for topic 'notes' lost" in caplog.text
    await writer.disconnect()


def test_notify_on_commit_waits_for_the_commit_and_refuses_bad_indications(monkeypatch):
    from django.db import transaction

    import appws
    from appws.layer import notify as notifications

    sent = []
    monkeypatch.setattr(notifications, "notify", lambda topic, message, layer: sent.append(topic))
    with transaction.atomic():
        appws.notify_on_commit("t", {"mt": "Changed"})
        assert sent == []  # not before the commit
    assert sent == ["t"]
    with pytest.raises(TypeError):
        appws.notify_on_commit("t", {"no": "mt"})

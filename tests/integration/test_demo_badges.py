"""The demo's notes badge: notes added by others since a user last listed them."""

from __future__ import annotations

import io
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.core.management import call_command

from appws.testing import AppwsCommunicator
from tests.integration.test_demo_notes import application, open_app
from tests.pbx_peer import PBX_INFO

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
async def provisioned(settings):
    settings.APPWS = {**settings.APPWS, "APPS": {}}
    await sync_to_async(call_command)("demo_setup", stdout=io.StringIO())


async def open_as(app: str, sip: str) -> AppwsCommunicator:
    from appws.models import App

    row = await App.objects.aget(name=app)
    password = await sync_to_async(row.get_password)()
    comm = AppwsCommunicator(application, f"/apps/{app}")
    assert (await comm.login(app, password, sip=sip, dn=sip.title()))["ok"] is True
    return comm


async def the_pbx() -> AppwsCommunicator:
    """The PBX's App object ``notes`` connected with PbxSignal; its Register answered."""
    from appws.models import App

    row = await App.objects.aget(name="notes")
    password = await sync_to_async(row.get_password)()
    pbx = AppwsCommunicator(application, "/apps/notes")
    login = await pbx.login("notes", password, sip="notes", info={"appobj": "notes"})
    assert login["ok"] is True
    await pbx.send_json_to({**PBX_INFO, "apis": ["PbxSignal"]})
    register = await pbx.receive_json_from()
    assert register["mt"] == "Register"
    await pbx.send_json_to({"api": "PbxSignal", "mt": "RegisterResult", "src": register["src"]})
    return pbx


async def subscribe(pbx: AppwsCommunicator, call: int, user: str) -> None:
    sig = {
        "type": "setup",
        "cg": {"sip": user},
        "cd": {"sip": "notes"},
        "fty": [{"type": "presence_subscribe"}],
    }
    await pbx.send_json_to({"api": "PbxSignal", "mt": "Signaling", "call": call, "sig": sig})
    assert (await pbx.receive_json_from())["sig"] == {"type": "conn"}


async def count(pbx: AppwsCommunicator) -> tuple[int, int]:
    """The next badge facility: its call and its count."""
    message: dict[str, Any] = await pbx.receive_json_from()
    (facility,) = message["sig"]["fty"]
    return message["call"], int(facility["note"].removeprefix("#badge:"))


async def test_the_badge_counts_notes_by_others_since_the_last_listing(provisioned):
    pbx = await the_pbx()
    alice = await open_as("notes", "alice")
    bob = await open_as("notes", "bob")
    await alice.request({"mt": "AddNote", "text": "before anyone subscribed"})
    await subscribe(pbx, -1, "bob")
    assert await count(pbx) == (-1, 1)  # never listed: every note by others
    await subscribe(pbx, -2, "alice")
    assert await count(pbx) == (-2, 0)  # her own note does not count
    await alice.request({"mt": "AddNote", "text": "one more"})
    assert await count(pbx) == (-1, 2)  # bob's badge; alice's is unchanged
    await bob.request({"mt": "ListNotes"})
    assert await count(pbx) == (-1, 0)  # bob has read them
    await bob.request({"mt": "AddNote", "text": "from bob"})
    assert await count(pbx) == (-2, 1)
    assert await pbx.receive_nothing()
    for comm in (pbx, alice, bob):
        await comm.disconnect()


async def test_a_login_without_a_sip_has_no_badge_and_still_lists_and_adds(provisioned):
    from demo_site.notes.models import NoteReader

    pbx = await the_pbx()
    await subscribe(pbx, -1, "bob")
    assert await count(pbx) == (-1, 0)
    nobody = await open_as("notes", "")  # a password login: no PBX user
    assert (await nobody.request({"mt": "AddNote", "text": "anonymous"}))["note"]["author"] == ""
    assert await count(pbx) == (-1, 1)
    assert len((await nobody.request({"mt": "ListNotes"}))["notes"]) == 1
    assert await NoteReader.objects.filter(sip="").aexists() is False
    assert await pbx.receive_nothing()
    for comm in (pbx, nobody):
        await comm.disconnect()


async def test_notes_work_without_a_pbx(provisioned):
    # No PBX connected: the badges have nowhere to go, and the notes do not mind.
    writer = await open_app("notes")
    assert (await writer.request({"mt": "AddNote", "text": "x"}))["note"]["text"] == "x"
    assert len((await writer.request({"mt": "ListNotes"}))["notes"]) == 1
    await writer.disconnect()


async def test_the_notes_app_info_says_presence(provisioned):
    comm = await open_as("notes", "alice")
    reply = await comm.request({"mt": "AppInfo", "app": "notes"})
    assert reply["info"]["presence"] is True
    admin = await comm.request({"mt": "AppInfo", "app": "notes-admin"})
    assert "presence" not in admin["info"]
    await comm.disconnect()

"""The demo and the PBX's users: who may open Notes, the landing page's list, its live updates."""

from __future__ import annotations

import io
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.routing import URLRouter
from django.contrib.auth.models import User
from django.core.management import call_command
from django.test import Client

from appws.models import App, PbxUser
from appws.pbx.users.rows import UserRow, clean_row
from appws.pbx.users.store import (
    ReplicaKey,
    apply_rows,
    begin_copy,
    delete_rows,
    finish_copy,
    write_copy_rows,
)
from appws.server.routing import service_urls
from appws.testing import AppwsCommunicator
from appws.testing.fakepbx.users import new_user
from demo_site import settings as demo_settings
from demo_site.notes.pbx_users import LIST_LIMIT
from demo_site.notes.services import NotesService

# Transactions that commit: pbx_user_changed is sent once a write has committed.
pytestmark = pytest.mark.django_db(transaction=True)

KEY = ReplicaKey("example.com", "pbx-demo")
application = URLRouter(service_urls(NotesService))
#: What the demo configures about the PBX's users, taken from its settings.
DEMO_MAPPING = {k: v for k, v in demo_settings.APPWS.items() if "MAP" in k}


@pytest.fixture
def demo(settings: Any) -> None:
    # The demo's Apps are rows (demo_setup), not the test settings' APPWS["APPS"].
    settings.APPWS = {**settings.APPWS, "APPS": {}, **DEMO_MAPPING}
    call_command("demo_setup", stdout=io.StringIO())


def row(h323: str, **columns: Any) -> UserRow:
    return clean_row(new_user(h323, **columns), max_bytes=100_000)


def copy(rows: list[UserRow]) -> None:
    generation = begin_copy(KEY, "notes")
    write_copy_rows(KEY, generation, rows)
    finish_copy(KEY, generation)


def django_user(name: str) -> User:
    return User.objects.get(username=name)  # fresh: has_perm caches what it read


def may_open(name: str, app: str = "notes") -> bool:
    return django_user(name).has_perm(f"appws.open_{app}")


def test_the_demo_maps_pbx_users_to_active_django_users() -> None:
    assert DEMO_MAPPING == {
        "MAP_USERS": True,
        "PBX_USERS_MAP": True,
        "PBX_USERS_MAP_CREATE": True,
        "PBX_USERS_MAP_ACTIVE": True,
    }
    assert NotesService.replicate_users is True


def test_the_pbx_users_apps_grant_the_notes_apps(demo: None) -> None:
    copy([row("carol", apps="notes"), row("dave", apps="phone"), row("erin", apps="notes-admin")])
    assert django_user("carol").is_active
    assert may_open("carol") and not may_open("carol", "notes-admin")
    assert not may_open("dave") and not may_open("dave", "notes-admin")
    assert may_open("erin", "notes-admin") and not may_open("erin")


def test_a_live_change_of_apps_grants_and_takes_away(demo: None) -> None:
    carol, dave = row("carol", apps="notes"), row("dave")
    copy([carol, dave])
    apply_rows(KEY, [row("carol", guid=carol.guid, apps="phone")])
    apply_rows(KEY, [row("dave", guid=dave.guid, apps="phone,notes")])
    assert not may_open("carol") and may_open("dave")


def test_a_deleted_pbx_user_keeps_no_access(demo: None) -> None:
    carol = row("carol", apps="notes")
    copy([carol, row("dave", apps="notes")])
    delete_rows(KEY, [carol.guid])
    assert not may_open("carol") and not django_user("carol").is_active
    assert may_open("dave")


def test_staff_members_and_the_sites_own_grants_are_never_touched(demo: None) -> None:
    carol = row("carol", apps="notes")
    copy([carol, row("dave", apps="notes")])
    staff = django_user("carol")
    staff.is_staff = True
    staff.save()
    # The mapping unlinks a user made staff; a delete then looks at unlinked users.
    apply_rows(KEY, [row("carol", guid=carol.guid, apps="")])
    delete_rows(KEY, [PbxUser.objects.get(h323="dave").guid])
    assert may_open("carol")
    # alice holds the notes App through the "notes users" group: no PBX user changes that.
    copy([row("alice", apps="")])
    assert may_open("alice")


def test_pbx_users_another_service_replicates_are_not_the_demos(demo: None) -> None:
    other = ReplicaKey("example.com", "pbx-other")
    generation = begin_copy(other, "directory")
    write_copy_rows(other, generation, [row("olga", cn="Olga Other", apps="notes")])
    finish_copy(other, generation)
    assert not may_open("olga")
    assert "Olga Other" not in page_for(django_user("alice"))


async def login_as(sip: str, app: str = "notes") -> tuple[AppwsCommunicator, dict[str, Any]]:
    """A user login the PBX issued for ``sip`` (info.appobj names the App object)."""
    row_ = await App.objects.aget(name=app)
    password = await sync_to_async(row_.get_password)()
    comm = AppwsCommunicator(application, f"/apps/{app}")
    result = await comm.login(app, password, sip=sip, dn=sip.title(), info={"appobj": "notes"})
    return comm, result


async def test_a_mapped_pbx_user_logging_in_through_the_pbx_opens_notes(demo: None) -> None:
    await sync_to_async(copy)([row("carol", apps="notes"), row("dave", apps="phone")])
    carol, result = await login_as("carol")
    assert result["ok"] is True
    listing = await carol.request({"mt": "ListNotes"})
    assert listing["notes"] == [] and listing["canDelete"] is False
    await carol.disconnect()
    dave, refused = await login_as("dave")
    assert refused["ok"] is False
    assert "may not open App 'notes'" in refused["errorText"]
    assert "list 'notes' in the user's Apps" in refused["errorText"]
    await dave.disconnect()
    nobody, refused = await login_as("zoe")  # no such PBX user, no Django user
    assert refused["ok"] is False
    await nobody.disconnect()


async def test_the_live_list_through_the_notes_service(demo: None) -> None:
    await sync_to_async(copy)([row("carol", cn="Carol Caller", e164="201")])
    watcher, result = await login_as("alice")  # the site's own user, through the group
    assert result["ok"] is True
    assert await watcher.request({"mt": "SubscribePbxUsers", "src": "u"}) == {
        "mt": "SubscribePbxUsersResult",
        "src": "u",
    }
    await sync_to_async(apply_rows)(KEY, [row("dave", cn="Dave Dialer", e164="202")])
    assert await watcher.receive_json_from() == {"mt": "PbxUsersChanged", "src": "u"}
    listing = await watcher.request({"mt": "ListPbxUsers"})
    assert [(u["name"], u["number"]) for u in listing["users"]] == [
        ("Carol Caller", "201"),
        ("Dave Dialer", "202"),
    ]
    assert listing["total"] == 2
    dave = await PbxUser.objects.aget(h323="dave")
    await sync_to_async(delete_rows)(KEY, [dave.guid])
    assert (await watcher.receive_json_from())["mt"] == "PbxUsersChanged"
    listing = await watcher.request({"mt": "ListPbxUsers"})
    assert [u["name"] for u in listing["users"]] == ["Carol Caller"]
    await watcher.disconnect()


def page_for(user: User | None) -> str:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client.get("/").content.decode()


def test_anonymous_visitors_see_no_pbx_users(demo: None) -> None:
    copy([row("carol", cn="Carol Caller", e164="201")])
    page = page_for(None)
    assert "to see the PBX's users" in page
    assert "Carol Caller" not in page and "201" not in page


def test_logged_in_users_see_names_and_numbers_and_the_live_script(demo: None) -> None:
    copy([row("carol", cn="Carol Caller", e164="201"), row("hidden", cn="Hidden", hide=True)])
    page = page_for(django_user("alice"))
    assert "<td>Carol Caller</td><td>201</td>" in page
    assert "Hidden" not in page  # the PBX hides them from its directory
    assert "demo_site/pbx-users.js" in page and "appws/appws.js" in page
    assert "to see the PBX's users" not in page


def test_users_without_notes_see_the_list_without_live_updates(demo: None) -> None:
    copy([row("carol", cn="Carol Caller", e164="201")])
    page = page_for(User.objects.create_user("plain"))
    assert "<td>Carol Caller</td>" in page
    assert "pbx-users.js" not in page and "Live updates need access to Notes" in page


def test_a_long_list_stops_and_says_how_many_more(demo: None) -> None:
    copy([row(f"user{n:03}", cn=f"User {n:03}") for n in range(LIST_LIMIT + 5)])
    page = page_for(django_user("alice"))
    assert page.count("<tr data-guid=") == LIST_LIMIT
    assert "User 000" in page and f"User {LIST_LIMIT:03}" not in page
    assert 'and <span id="pbx-users-more-count">5</span> more' in page
    assert 'pbx-users-more" class="muted" hidden' not in page


def test_no_pbx_users_says_how_they_come(demo: None) -> None:
    page = page_for(django_user("alice"))
    assert "No PBX users yet" in page
    assert 'id="pbx-users-more" class="muted" hidden' in page

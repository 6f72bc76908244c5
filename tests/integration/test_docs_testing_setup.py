"""docs/testing.md "Setting up": its fixture, as written there, lets a user log in."""

from __future__ import annotations

import pytest
from channels.routing import URLRouter
from django.contrib.auth.models import User

from appws.models import App
from appws.server.routing import service_urls
from appws.testing import AppwsCommunicator
from demo_site.notes.services import NotesService

pytestmark = pytest.mark.django_db(transaction=True)

application = URLRouter(service_urls(NotesService))


@pytest.fixture
def notes_app(settings):
    # The test settings define "notes" in APPWS["APPS"], which would win over the row.
    settings.APPWS = {**settings.APPWS, "APPS": {}, "REQUIRE_USER_ACCESS": True}
    app = App(name="notes", title="Notes")
    app.set_password("test-password")
    app.save()
    alice = User.objects.create_user("alice")
    alice.user_permissions.add(app.access_permission)
    User.objects.create_user("bob")  # not granted
    return app


async def test_the_documented_fixture_lets_alice_in_and_not_bob(notes_app):
    for sip, ok in (("alice", True), ("bob", False)):
        comm = AppwsCommunicator(application, "/apps/notes")
        assert (await comm.login("notes", "test-password", sip=sip))["ok"] is ok
        await comm.disconnect()

"""Handlers that use the database: sync ones in a thread, async ones with db=True."""

from __future__ import annotations

import json
import uuid
from decimal import Decimal

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth.models import User
from django.core.serializers.json import DjangoJSONEncoder

from appws.testing import AppwsCommunicator
from demo_site.notes.models import Note
from tests.services import DatabaseService

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize("mt", ["CountUsersSync", "CountUsersAsync"])
async def test_orm_in_handlers(mt):
    await sync_to_async(User.objects.create)(username="alice")
    comm = AppwsCommunicator(DatabaseService.as_asgi(), "/apps/notes")
    assert (await comm.login("notes", "notes-secret"))["ok"] is True
    assert await comm.request({"mt": mt, "src": "1"}) == {
        "mt": f"{mt}Result",
        "users": 1,
        "src": "1",
    }
    await comm.disconnect()


async def test_a_reply_of_values_goes_out_as_django_json_writes_it():
    note = await sync_to_async(Note.objects.create)(text="milk")
    token = uuid.uuid4()
    comm = AppwsCommunicator(DatabaseService.as_asgi(), "/apps/notes")
    assert (await comm.login("notes", "notes-secret"))["ok"] is True
    reply = await comm.request({"mt": "NoteValues", "token": str(token), "src": "v"})
    row = {"text": "milk", "created": note.created, "price": Decimal("12.25"), "token": token}
    assert reply == {
        "mt": "NoteValuesResult",
        "notes": [json.loads(json.dumps(row, cls=DjangoJSONEncoder))],
        "label": "Notes",
        "src": "v",
    }
    assert isinstance(reply["notes"][0]["created"], str)  # what a Django JSON view sends
    await comm.disconnect()

"""Handlers that use the database: sync ones in a thread, async ones with db=True."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth.models import User

from appws.testing import AppwsCommunicator
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

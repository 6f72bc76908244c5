"""A session ends once: what ends it first wins, and nothing outlives the end.

Each case is a race the old close paths lost in their own way: a login still being
checked when its deadline passes, a handler that subscribes after it ended its own
session, a refusal that comes after the session already ended.
"""

from __future__ import annotations

import logging

import pytest
from channels.layers import get_channel_layer

from appws import AppWebsocketConsumer, mt, protocol
from appws.models import LiveSession
from appws.testing import AppwsCommunicator

pytestmark = pytest.mark.django_db(transaction=True)


class DeadlineDuringLogin(AppWebsocketConsumer):
    """The login deadline passes while the App is read (a slow database)."""

    apps = ("notes",)

    async def get_app(self, name):
        account = await super().get_app(name)
        self._login_timed_out()
        await self._timeout_task
        return account

    async def logged_in(self):
        await self.subscribe("after-login")


class DeadlineDuringRefusal(DeadlineDuringLogin):
    async def get_app(self, name):
        await super().get_app(name)
        return None


class EndsThenSubscribes(AppWebsocketConsumer):
    apps = ("notes",)

    @mt("Bye")
    async def bye(self, msg):
        await self.send_json({"mt": "ByeResult"}, close=True)
        await self.subscribe("late", msg)


async def send_login(comm: AppwsCommunicator) -> None:
    await comm.send_json_to({"mt": "AppChallenge"})
    challenge = (await comm.receive_json_from())["challenge"]
    login = {"mt": "AppLogin", "app": "notes", "domain": "", "sip": "x", "guid": "", "dn": ""}
    login["digest"] = protocol.login_digest(login, challenge, "notes-secret")
    await comm.send_to(text_data=protocol.encode_login(login))


def groups_in_use() -> list[str]:
    return [group for group, members in get_channel_layer().groups.items() if members]


async def test_a_login_past_its_deadline_starts_no_session(settings):
    settings.APPWS = {**settings.APPWS, "TRACK_SESSIONS": True, "LOGIN_TIMEOUT": 30}
    comm = AppwsCommunicator(DeadlineDuringLogin.as_asgi(), "/apps/notes")
    assert (await comm.connect())[0]
    await send_login(comm)
    assert await comm.receive_output() == {
        "type": "websocket.close",
        "code": 4408,
        "reason": "login timeout",
    }
    assert await comm.receive_nothing()  # no AppLoginResult after the close
    await comm.disconnect()
    assert not await LiveSession.objects.aexists()
    assert not groups_in_use()


async def test_a_refusal_after_the_deadline_is_still_logged(caplog):
    caplog.set_level(logging.INFO)
    comm = AppwsCommunicator(DeadlineDuringRefusal.as_asgi(), "/apps/notes")
    assert (await comm.connect())[0]
    await send_login(comm)
    assert (await comm.receive_output())["code"] == 4408
    await comm.disconnect()
    assert [r for r in caplog.records if r.getMessage().startswith("AppLogin refused")]


async def test_a_subscription_after_the_end_joins_no_group(caplog):
    comm = AppwsCommunicator(EndsThenSubscribes.as_asgi(), "/apps/notes")
    await comm.login("notes", "notes-secret")
    await comm.send_json_to({"mt": "Bye", "src": "a"})
    assert (await comm.receive_json_from())["mt"] == "ByeResult"
    assert (await comm.receive_output())["type"] == "websocket.close"
    await comm.disconnect()
    assert not groups_in_use()
    # A close the service asked for is no warning.
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]

"""Opening and closing a session hop to no thread, unless Channels' own hooks are there.

Channels runs ``close_old_connections`` in the database thread before every event
and after ``disconnect()``. appws's part of opening and closing uses the database
only through ``database_sync_to_async`` (which cleans up itself), so a service
without ``connect()``/``disconnect()`` of its own skips those hops; with them,
Channels' hops run around them as in any Channels consumer.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from channels import consumer as channels_consumer
from channels.generic import websocket as channels_websocket

from appws import AppWebsocketConsumer
from appws.testing import AppwsCommunicator

pytestmark = pytest.mark.django_db(transaction=True)


class Plain(AppWebsocketConsumer):
    apps = ("notes",)


class WithHooks(AppWebsocketConsumer):
    apps = ("notes",)
    codes: list[int] = []

    async def disconnect(self, code: int) -> None:
        self.codes.append(code)


@pytest.fixture
def cleanups(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Each of Channels' ``aclose_old_connections`` hops, by where it was made."""
    seen: list[str] = []
    for module in (channels_consumer, channels_websocket):
        original = module.aclose_old_connections

        async def counting(module_name: str = module.__name__, original=original) -> None:
            seen.append(module_name)
            await original()

        monkeypatch.setattr(module, "aclose_old_connections", counting)
    yield seen


async def test_a_session_without_channels_hooks_opens_and_closes_without_a_hop(cleanups):
    comm = AppwsCommunicator(Plain.as_asgi(), "/apps/notes")
    assert (await comm.connect())[0]
    assert (await comm.login("notes", "notes-secret"))["ok"] is True
    await comm.disconnect()
    assert cleanups == []


async def test_channels_hooks_of_a_service_keep_channels_hops(cleanups):
    WithHooks.codes = []
    comm = AppwsCommunicator(WithHooks.as_asgi(), "/apps/notes")
    assert (await comm.connect())[0]
    await comm.disconnect(code=1001)
    assert WithHooks.codes == [1001]
    # Before the connect and disconnect events, and after disconnect(), as Channels does.
    assert cleanups == [channels_consumer.__name__] * 2 + [channels_websocket.__name__]

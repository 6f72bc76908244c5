"""One recovery per process after a channel-layer outage, and notify refusing until it is done.

The in-memory layer stands in for Redis: its operations raise while it is "down", and
"restarting" forgets its groups, as a restarted Redis does.
"""

from __future__ import annotations

import asyncio

import pytest
from channels.layers import get_channel_layer

from appws import LayerUnavailable, anotify
from appws.layer import recovery
from appws.layer.outage import is_layer_outage

NOTES = ("notes", "notes-secret")
SESSIONS = 20


class Outage:
    """Switches the in-memory layer between down and up, counting what reaches it."""

    def __init__(self, layer, monkeypatch) -> None:
        self.layer = layer
        self.down = False
        self.probes = 0
        self.adds_while_down = 0
        self.probed = asyncio.Event()
        self.rejoins = asyncio.Event()  # while unset, group_add waits: restoring is held
        self.rejoins.set()
        self._add, self._discard, self._send = (
            layer.group_add,
            layer.group_discard,
            layer.group_send,
        )
        monkeypatch.setattr(layer, "group_add", self.group_add)
        monkeypatch.setattr(layer, "group_discard", self.group_discard)
        monkeypatch.setattr(layer, "group_send", self.group_send)

    def fail(self) -> None:
        if self.down:
            raise ConnectionRefusedError("the channel layer's server is down")

    async def group_add(self, group, channel):
        if self.down:
            self.adds_while_down += 1
        self.fail()
        await self.rejoins.wait()
        await self._add(group, channel)

    async def group_discard(self, group, channel):
        if group == "appws.probe":
            self.probes += 1
            self.probed.set()
        self.fail()
        await self._discard(group, channel)

    async def group_send(self, group, message):
        self.fail()
        await self._send(group, message)

    def restart(self) -> None:
        self.layer.groups.clear()  # a restarted Redis has forgotten every group
        self.down = False

    async def probed_again(self) -> None:
        self.probed.clear()
        await self.probed.wait()


async def restored(recovery_state) -> None:
    for _ in range(1000):  # poll: the recovery task finishes on its own
        if not recovery_state.restoring():
            return
        await asyncio.sleep(0.001)
    raise AssertionError("the sessions were not restored")


async def test_notify_refuses_until_every_session_has_rejoined(connect, monkeypatch):
    monkeypatch.setattr(recovery, "PROBE_SECONDS", 0.005)
    layer = get_channel_layer()
    sessions = [await connect(login=NOTES) for _ in range(SESSIONS)]
    for number, comm in enumerate(sessions):
        reply = await comm.request({"mt": "Subscribe", "topic": "news", "src": f"s{number}"})
        assert reply == {"mt": "SubscribeResult", "src": f"s{number}"}
    idle = await connect(login=NOTES)  # no subscription: nothing of it to restore
    outage = Outage(layer, monkeypatch)
    state = recovery.recovery_for(layer)

    outage.down = True
    with pytest.raises(LayerUnavailable) as down:
        await anotify("news", {"mt": "Lost"})
    assert is_layer_outage(down.value)  # what handlers turn into error "unavailable"
    assert state.restoring()
    for _ in range(3):  # several probe intervals: only the probe reaches the layer
        await outage.probed_again()
    assert outage.adds_while_down == 0

    # Back, but the groups are gone and not yet re-added: delivery cannot be claimed.
    outage.rejoins.clear()
    outage.restart()
    await outage.probed_again()
    with pytest.raises(LayerUnavailable, match="re-adding their subscriptions"):
        await anotify("news", {"mt": "Partial"})
    outage.rejoins.set()
    await restored(state)

    await anotify("news", {"mt": "Back"})
    for number, comm in enumerate(sessions):
        assert await comm.receive_json_from() == {"mt": "Back", "src": f"s{number}"}
    assert await idle.receive_nothing()


async def test_a_session_that_ends_while_restoring_does_not_hold_notify_up(connect, monkeypatch):
    monkeypatch.setattr(recovery, "PROBE_SECONDS", 0.005)
    layer = get_channel_layer()
    leaving = await connect(login=NOTES)
    await leaving.request({"mt": "Subscribe", "topic": "gone", "src": "g"})
    outage = Outage(layer, monkeypatch)
    state = recovery.recovery_for(layer)
    outage.down = True
    with pytest.raises(LayerUnavailable):
        await anotify("gone", {"mt": "Lost"})
    assert state.restoring()
    await leaving.disconnect()
    assert not state.restoring()
    outage.restart()
    await anotify("gone", {"mt": "Nobody"})


async def test_a_read_timeout_of_an_idle_receive_is_no_outage(connect, monkeypatch):
    import redis.exceptions

    layer = get_channel_layer()
    comm = await connect(login=NOTES)
    await comm.request({"mt": "Subscribe", "topic": "quiet", "src": "q"})
    outage = Outage(layer, monkeypatch)
    state = recovery.recovery_for(layer)
    receive, timeouts = layer.receive, asyncio.Event()

    async def receive_timing_out_once(channel):
        if not timeouts.is_set():  # as redis-py 8 gives up a 5 s BZPOPMIN after 5 s
            timeouts.set()
            raise redis.exceptions.TimeoutError("Timeout reading from 127.0.0.1:6379")
        return await receive(channel)

    monkeypatch.setattr(layer, "receive", receive_timing_out_once)
    # The receive waiting now returns this; the session's next one times out once.
    await anotify("quiet", {"mt": "First"})
    assert await comm.receive_json_from() == {"mt": "First", "src": "q"}
    await asyncio.wait_for(timeouts.wait(), 5)
    await anotify("quiet", {"mt": "StillHere"})
    assert await comm.receive_json_from() == {"mt": "StillHere", "src": "q"}
    assert outage.probes == 0 and not state.restoring()

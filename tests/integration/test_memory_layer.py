"""appws's in-memory channel layer: what group_send and send keep of Channels' own."""

from __future__ import annotations

import asyncio

import pytest
from channels.exceptions import ChannelFull

from appws.layer import events
from appws.layer.memory import InMemoryChannelLayer


async def members(layer: InMemoryChannelLayer, count: int) -> list[str]:
    channels = [await layer.new_channel() for _ in range(count)]
    for channel in channels:
        await layer.group_add("g", channel)
    return channels


async def test_a_group_send_starts_no_task_per_member(monkeypatch):
    layer = InMemoryChannelLayer()
    channels = await members(layer, 50)

    def no_task(*args: object, **kwargs: object) -> None:
        raise AssertionError("group_send started a task")

    monkeypatch.setattr(asyncio, "create_task", no_task)
    await layer.group_send("g", {"type": "t", "n": 1})
    assert [(await layer.receive(channel))["n"] for channel in channels] == [1] * 50


@pytest.mark.parametrize(
    "event",
    [
        events.indication("t", {"mt": "Changed", "rows": [{"id": 1, "tags": ["a"]}]}),
        {"type": "other", "payload": {"rows": [{"id": 1, "tags": ["a"]}]}},
    ],
    ids=["encoded indication", "other event"],
)
async def test_every_member_gets_a_copy_of_its_own(event):
    layer = InMemoryChannelLayer()
    first, second = await members(layer, 2)
    await layer.group_send("g", event)
    mine, theirs = await layer.receive(first), await layer.receive(second)
    assert mine == theirs == event
    inner = mine.get("message") or mine["payload"]
    inner["rows"][0]["tags"].append("changed")
    assert (theirs.get("message") or theirs["payload"])["rows"][0]["tags"] == ["a"]
    assert (event.get("message") or event["payload"])["rows"][0]["tags"] == ["a"]


async def test_a_full_member_is_skipped_and_the_others_get_theirs():
    layer = InMemoryChannelLayer(capacity=1)
    full, other = await members(layer, 2)
    await layer.send(full, {"type": "first"})
    with pytest.raises(ChannelFull):
        await layer.send(full, {"type": "second"})
    await layer.group_send("g", {"type": "to all"})
    assert (await layer.receive(full))["type"] == "first"
    assert (await layer.receive(other))["type"] == "to all"


async def test_send_and_group_send_refuse_what_channels_refuses():
    layer = InMemoryChannelLayer()
    with pytest.raises(TypeError):
        await layer.send("not valid!", {"type": "t"})
    with pytest.raises(AssertionError):
        await layer.send(await layer.new_channel(), {"type": "t", "__asgi_channel__": "x"})
    with pytest.raises(TypeError):
        await layer.group_send("not valid!", {"type": "t"})


async def test_a_waiting_receiver_holds_no_queue_and_gets_what_is_sent():
    layer = InMemoryChannelLayer()
    channel = await layer.new_channel()
    receiver = asyncio.ensure_future(layer.receive(channel))
    await asyncio.sleep(0)
    assert channel not in layer.channels  # an idle session's channel costs no queue
    await layer.send(channel, {"type": "t", "n": 1})
    assert (await receiver)["n"] == 1
    assert channel not in layer.channels


async def test_messages_sent_before_a_receive_come_in_order():
    layer = InMemoryChannelLayer()
    channel = await layer.new_channel()
    for n in (1, 2):
        await layer.send(channel, {"type": "t", "n": n})
    assert [(await layer.receive(channel))["n"] for _ in range(2)] == [1, 2]


async def test_a_receiver_cancelled_after_its_wake_up_leaves_the_message_to_the_next():
    layer = InMemoryChannelLayer()
    channel = await layer.new_channel()
    first = asyncio.ensure_future(layer.receive(channel))
    second = asyncio.ensure_future(layer.receive(channel))
    await asyncio.sleep(0)
    await layer.send(channel, {"type": "t", "n": 1})  # wakes the first...
    first.cancel()  # ...which is cancelled before it runs
    with pytest.raises(asyncio.CancelledError):
        await first
    assert (await second)["n"] == 1


async def test_a_fan_out_to_idle_members_builds_no_asyncio_queue(monkeypatch):
    layer = InMemoryChannelLayer()
    channels = await members(layer, 20)

    def no_queue(*args: object, **kwargs: object) -> None:
        raise AssertionError("a message was queued in an asyncio.Queue")

    monkeypatch.setattr(asyncio, "Queue", no_queue)
    await layer.group_send("g", {"type": "t", "n": 1})
    assert [(await layer.receive(channel))["n"] for channel in channels] == [1] * 20


async def test_expired_messages_are_swept_and_their_channel_leaves_its_groups():
    layer = InMemoryChannelLayer(expiry=-1)  # every message is expired once queued
    stale, fresh = await members(layer, 2)
    await layer.send(stale, {"type": "t"})
    layer._last_sweep = 0.0  # the next sweep is due
    layer._clean_expired()
    assert stale not in layer.channels
    assert list(layer.groups["g"]) == [fresh]

"""Subscriptions and notify through the in-memory channel layer."""

from __future__ import annotations

import asyncio

import pytest
from channels.layers import get_channel_layer

from appws import anotify, notify
from appws.layer.topics import group_name

NOTES = ("notes", "notes-secret")


async def subscribe(comm, topic, src):
    reply = await comm.request({"mt": "Subscribe", "topic": topic, "src": src})
    assert reply == {"mt": "SubscribeResult", "src": src}


async def test_each_subscriber_gets_its_own_src(connect):
    alice = await connect(login=NOTES, sip="alice")
    bob = await connect(login=NOTES, sip="bob")
    await subscribe(alice, "notes", "a1")
    await subscribe(bob, "notes", "b1")
    await anotify("notes", {"mt": "NoteAdded", "text": "hi"})
    assert await alice.receive_json_from() == {"mt": "NoteAdded", "text": "hi", "src": "a1"}
    assert await bob.receive_json_from() == {"mt": "NoteAdded", "text": "hi", "src": "b1"}


async def test_several_subscriptions_on_one_session_and_partial_unsubscribe(connect):
    comm = await connect(login=NOTES)
    await subscribe(comm, "notes", "s1")
    await subscribe(comm, "notes", "s2")
    await subscribe(comm, "notes", "s2")  # the same src again adds nothing
    await anotify("notes", {"mt": "NoteAdded"})
    got = [await comm.receive_json_from() for _ in range(2)]
    assert sorted(m["src"] for m in got) == ["s1", "s2"]
    assert await comm.receive_nothing()

    reply = await comm.request({"mt": "Unsubscribe", "topic": "notes", "src": "s1", "one": True})
    assert reply == {"mt": "UnsubscribeResult", "ended": True, "src": "s1"}
    await anotify("notes", {"mt": "NoteAdded"})
    assert (await comm.receive_json_from())["src"] == "s2"
    assert await comm.receive_nothing()

    reply = await comm.request({"mt": "Unsubscribe", "topic": "notes"})
    assert reply["ended"] is True
    await anotify("notes", {"mt": "NoteAdded"})
    assert await comm.receive_nothing()
    reply = await comm.request({"mt": "Unsubscribe", "topic": "notes"})
    assert reply["ended"] is False


async def test_subscription_without_src_gets_indications_without_src(connect):
    comm = await connect(login=NOTES)
    assert await comm.request({"mt": "Subscribe", "topic": "t"}) == {"mt": "SubscribeResult"}
    await anotify("t", {"mt": "Tick"})
    assert await comm.receive_json_from() == {"mt": "Tick"}


async def test_topics_are_separate(connect):
    comm = await connect(login=NOTES)
    await subscribe(comm, "a", "sa")
    await anotify("b", {"mt": "Other"})
    assert await comm.receive_nothing()


@pytest.mark.django_db(transaction=True)
async def test_sync_notify_from_a_thread(connect):
    from asgiref.sync import sync_to_async

    comm = await connect(login=NOTES)
    await subscribe(comm, "notes", "n")
    await sync_to_async(notify)("notes", {"mt": "NoteAdded", "id": 1})
    assert await comm.receive_json_from() == {"mt": "NoteAdded", "id": 1, "src": "n"}


async def test_disconnect_leaves_the_groups(connect):
    comm = await connect(login=NOTES)
    await subscribe(comm, "notes", "n")
    layer = get_channel_layer()
    group = group_name("notes")
    assert layer.groups.get(group)
    await comm.disconnect()
    assert not layer.groups.get(group)


@pytest.mark.parametrize(
    "topic", ["x" * 5000, "Notizen für Büro 42 / 🎉", "a b\nc\u2028", "", "...", "-" * 200]
)
async def test_any_topic_text_works(connect, topic):
    comm = await connect(login=NOTES)
    await subscribe(comm, topic, "t")
    await anotify(topic, {"mt": "Tick"})
    assert await comm.receive_json_from() == {"mt": "Tick", "src": "t"}


@pytest.mark.parametrize(
    ("message", "error"),
    [
        ({"text": "no mt"}, TypeError),
        ("NoteAdded", TypeError),
        ({"mt": "X", "src": "forged"}, ValueError),
    ],
)
async def test_notify_rejects_bad_indications(message, error):
    with pytest.raises(error):
        await anotify("notes", message)


async def test_group_membership_is_renewed_before_the_layer_expires_it(connect, settings):
    settings.APPWS = {**settings.APPWS, "GROUP_REFRESH_SECONDS": 0.05}
    comm = await connect(login=NOTES)
    await subscribe(comm, "renewed", "r")
    layer = get_channel_layer()
    group = group_name("renewed")
    (channel,) = layer.groups[group]
    layer.groups[group].clear()  # what an expired membership looks like
    for _ in range(500):  # until the refresh timer has re-added it
        if channel in layer.groups[group]:
            break
        await asyncio.sleep(0.01)
    assert channel in layer.groups[group]
    await anotify("renewed", {"mt": "Tick"})
    assert await comm.receive_json_from() == {"mt": "Tick", "src": "r"}


async def test_the_faster_in_memory_layer_sweeps_at_most_once_a_second():
    from appws.layer.memory import InMemoryChannelLayer

    layer = InMemoryChannelLayer(expiry=60)
    sweeps = []
    original = type(layer).__mro__[1]._clean_expired

    def counting(self):
        sweeps.append(1)
        original(self)

    type(layer).__mro__[1]._clean_expired = counting
    try:
        channel = await layer.new_channel()
        await layer.group_add("g", channel)
        for number in range(50):
            await layer.group_send("g", {"type": "t", "n": number})
        assert [(await layer.receive(channel))["n"] for _ in range(50)] == list(range(50))
    finally:
        type(layer).__mro__[1]._clean_expired = original
    assert len(sweeps) == 1


async def test_group_names_default_to_the_configured_prefix(connect, settings):
    settings.APPWS = {**settings.APPWS, "GROUP_PREFIX": "site2"}
    assert group_name("notes").startswith("site2.t.notes.")
    comm = await connect(login=("notes", "notes-secret"))
    await subscribe(comm, "board", "s1")
    assert get_channel_layer().groups.get(group_name("board"))

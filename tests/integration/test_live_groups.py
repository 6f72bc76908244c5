"""A live row lists its session's groups, and a sweep takes dead channels out of them."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.core.management import call_command
from django.utils import timezone

from appws import live_sessions
from appws.layer.membership import leave_groups
from appws.layer.topics import group_name
from appws.models import LiveSession, ServerProcess

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def tracked(settings):
    settings.APPWS = {**settings.APPWS, "TRACK_SESSIONS": True}


def crashed_process(channels: dict[str, list[str]]) -> None:
    """A process silent for an hour, with a session per channel in these groups."""
    long_ago = timezone.now() - timedelta(hours=1)
    server = ServerProcess.objects.create(
        ident="deadhost:1:x", hostname="deadhost", pid=1, started=long_ago, last_seen=long_ago
    )
    for channel, groups in channels.items():
        LiveSession.objects.create(
            channel_name=channel,
            server=server,
            app_name="notes",
            sip=channel,
            connected_at=long_ago,
            last_activity=long_ago,
            groups=groups,
        )


async def row_groups(sip: str) -> list[str]:
    return list((await LiveSession.objects.aget(sip=sip)).groups)


async def test_the_row_lists_a_group_before_the_channel_joins_it(connect, tracked, monkeypatch):
    layer = get_channel_layer()
    listed_at_join: list[list[str]] = []
    group_add = layer.group_add

    async def watching(group: str, channel: str) -> None:
        # What a sweep would find if the process died right after this join.
        listed_at_join.append(await row_groups("joiner"))
        await group_add(group, channel)

    monkeypatch.setattr(layer, "group_add", watching)
    comm = await connect(login=("notes", "notes-secret"), sip="joiner")
    await comm.request({"mt": "Subscribe", "topic": "first", "src": "a"})
    await comm.request({"mt": "Subscribe", "topic": "second", "src": "b"})
    first, second = group_name("first"), group_name("second")
    assert listed_at_join == [[first], sorted([first, second])]


async def test_a_second_src_on_a_topic_costs_no_write(connect, tracked, monkeypatch):
    comm = await connect(login=("notes", "notes-secret"), sip="twice")
    await comm.request({"mt": "Subscribe", "topic": "t", "src": "a"})
    writes: list[Any] = []
    monkeypatch.setattr(live_sessions, "_store_groups", writes.append)
    await comm.request({"mt": "Subscribe", "topic": "t", "src": "b"})
    assert writes == []
    assert await row_groups("twice") == [group_name("t")]


async def test_a_left_group_leaves_the_row_with_the_next_beat(connect, tracked):
    comm = await connect(login=("notes", "notes-secret"), sip="leaver")
    await comm.request({"mt": "Subscribe", "topic": "t", "src": "a"})
    await comm.request({"mt": "Unsubscribe", "topic": "t"})
    await live_sessions.beat()
    assert await row_groups("leaver") == []


async def test_a_process_swept_while_alive_gets_its_rows_and_groups_back(connect, tracked):
    comm = await connect(login=("notes", "notes-secret"), sip="paused")
    await comm.request({"mt": "Subscribe", "topic": "t", "src": "a"})
    channel = (await LiveSession.objects.aget(sip="paused")).channel_name
    # Another process judged this one stale after a long pause, and swept it.
    held = [(channel, await row_groups("paused"))]
    await ServerProcess.objects.all().adelete()
    await leave_groups(get_channel_layer(), held)
    assert channel not in get_channel_layer().groups.get(group_name("t"), {})

    await live_sessions.beat()
    assert await row_groups("paused") == [group_name("t")]
    assert channel in get_channel_layer().groups[group_name("t")]


async def test_the_heartbeat_sweep_takes_dead_channels_out_of_their_groups(connect, tracked):
    layer = get_channel_layer()
    news, other = group_name("news"), group_name("other")
    await sync_to_async(crashed_process)({"dead!1": [news, other], "dead!2": [news]})
    for group, channel in [(news, "dead!1"), (other, "dead!1"), (news, "dead!2")]:
        await layer.group_add(group, channel)
    comm = await connect(login=("notes", "notes-secret"), sip="survivor")
    await comm.request({"mt": "Subscribe", "topic": "news", "src": "n"})
    alive = (await LiveSession.objects.aget(sip="survivor")).channel_name

    await live_sessions.beat()
    assert set(layer.groups.get(news, {})) == {alive}
    assert not layer.groups.get(other)
    assert [row.sip async for row in LiveSession.objects.all()] == ["survivor"]


def test_the_sweep_command_takes_dead_channels_out_of_their_groups():
    from asgiref.sync import async_to_sync

    layer = get_channel_layer()
    news = group_name("news")
    crashed_process({"dead!1": [news]})
    async_to_sync(layer.group_add)(news, "dead!1")
    call_command("appws_sessions", "--sweep", stdout=open("/dev/null", "w"))  # noqa: SIM115
    assert not layer.groups.get(news)
    assert not LiveSession.objects.exists()


async def test_an_unreachable_layer_does_not_stop_the_sweep(monkeypatch, caplog):
    layer = get_channel_layer()

    async def unreachable(group: str, channel: str) -> None:
        raise ConnectionRefusedError("redis is down")

    monkeypatch.setattr(layer, "group_discard", unreachable)
    await sync_to_async(crashed_process)({"dead!1": [group_name("a"), group_name("b")]})
    with caplog.at_level(logging.WARNING, logger="appws.live"):
        assert await live_sessions.asweep_stale_processes() == (1, 1)
    assert not await LiveSession.objects.aexists()
    assert "2 group membership(s) of swept sessions stay" in caplog.text


async def test_disconnecting_a_stale_row_takes_its_channel_out_of_its_groups():
    layer = get_channel_layer()
    news = group_name("news")
    await sync_to_async(crashed_process)({"dead!1": [news], "dead!2": [news]})
    await layer.group_add(news, "dead!1")
    await layer.group_add(news, "dead!2")
    await sync_to_async(live_sessions.disconnect_sessions)(
        LiveSession.objects.filter(channel_name="dead!1")
    )
    assert set(layer.groups[news]) == {"dead!2"}

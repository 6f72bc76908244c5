"""appws_notify and appws_sessions, and the capacity watch on channels_redis's logger."""

from __future__ import annotations

import io
import json
import logging
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from appws.layer import capacity
from appws.models import LiveSession, ServerProcess
from tests.layers import SAME_PROCESS_LAYER

IN_MEMORY_LAYERS = ("appws.layers.InMemoryChannelLayer", "channels.layers.InMemoryChannelLayer")


def run(*args: str) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


@pytest.fixture
def same_process_layer(settings):
    """A layer the commands accept, shared with the sessions of this test process."""
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": SAME_PROCESS_LAYER}}


def assert_says_why_and_what_to_do(error: CommandError, backend: str) -> None:
    text = str(error)
    assert backend in text  # the configured backend
    assert "process of its own" in text  # why it cannot work
    assert "channels_redis.core.RedisChannelLayer" in text  # what to configure
    assert "docs/scaling.md" in text


async def test_appws_notify_reaches_subscribers(connect, same_process_layer):
    from asgiref.sync import sync_to_async

    comm = await connect(login=("notes", "notes-secret"))
    await comm.request({"mt": "Subscribe", "topic": "ops", "src": "o"})
    out = await sync_to_async(run)("appws_notify", "ops", '{"mt": "Ping", "n": 1}')
    assert "Sent Ping to topic 'ops'" in out
    assert await comm.receive_json_from() == {"mt": "Ping", "n": 1, "src": "o"}


@pytest.mark.parametrize(
    ("message", "text"),
    [("{nope", "not valid JSON"), ('{"n": 1}', '"mt"'), ('{"mt": "X", "src": "s"}', "src")],
)
def test_appws_notify_refuses_bad_messages(message, text, same_process_layer):
    with pytest.raises(CommandError, match=text):
        run("appws_notify", "ops", message)


@pytest.mark.parametrize("backend", IN_MEMORY_LAYERS)
async def test_appws_notify_refuses_an_in_memory_layer(connect, settings, backend):
    # The README's settings: the command would say "Sent" and reach nobody, because
    # the running server is another process.
    from asgiref.sync import sync_to_async

    settings.CHANNEL_LAYERS = {"default": {"BACKEND": backend}}
    comm = await connect(login=("notes", "notes-secret"))
    await comm.request({"mt": "Subscribe", "topic": "ops", "src": "o"})
    with pytest.raises(CommandError) as refused:
        await sync_to_async(run)("appws_notify", "ops", '{"mt": "Ping"}')
    assert_says_why_and_what_to_do(refused.value, backend)
    assert "appws_notify" in str(refused.value)
    assert await comm.receive_nothing()


def test_appws_notify_refuses_without_a_channel_layer(settings):
    settings.CHANNEL_LAYERS = {}
    with pytest.raises(CommandError) as refused:
        run("appws_notify", "ops", '{"mt": "Ping"}')
    assert 'no "default" layer' in str(refused.value)
    assert "docs/scaling.md" in str(refused.value)


def make_rows() -> None:
    now = timezone.now()
    alive = ServerProcess.objects.create(
        ident="h:1:a", hostname="h", pid=1, started=now, last_seen=now
    )
    dead = ServerProcess.objects.create(
        ident="h:2:b",
        hostname="h",
        pid=2,
        started=now - timedelta(hours=1),
        last_seen=now - timedelta(hours=1),
    )
    for server, sip in ((alive, "alice"), (dead, "ghost")):
        LiveSession.objects.create(
            channel_name=f"c!{sip}",
            server=server,
            app_name="notes",
            sip=sip,
            domain="example.com",
            connected_at=now,
            last_activity=now,
        )


@pytest.mark.django_db
def test_appws_sessions_list_and_sweep():
    # Listing and sweeping need only the database: they work with the in-memory layer.
    make_rows()
    listed = json.loads(run("appws_sessions", "--json"))
    assert {row["user"]: row["stale"] for row in listed} == {
        "alice@example.com": False,
        "ghost@example.com": True,
    }
    assert "2 live session(s)." in run("appws_sessions")
    assert "Removed 1 stopped server process(es) and 1 session row(s)." in run(
        "appws_sessions", "--sweep"
    )
    assert [row["user"] for row in json.loads(run("appws_sessions", "--json"))] == [
        "alice@example.com"
    ]


@pytest.mark.django_db
def test_appws_sessions_lists_newest_first_and_the_last_made_first_among_equals():
    # Both rows have the same connected_at: without a tie-break PostgreSQL returns them
    # as they lie on disk, and an update (the heartbeat's last_activity) moves a row.
    make_rows()
    LiveSession.objects.filter(sip="ghost").update(last_activity=timezone.now())
    listed = [row["user"] for row in json.loads(run("appws_sessions", "--json"))]
    assert listed == ["ghost@example.com", "alice@example.com"]


@pytest.mark.django_db
def test_appws_sessions_disconnect_needs_a_selection(same_process_layer):
    make_rows()
    with pytest.raises(CommandError, match="--app, --sip, or --all"):
        run("appws_sessions", "--disconnect")
    assert "Disconnected 1 session(s)." in run("appws_sessions", "--disconnect", "--sip", "ghost")
    assert not LiveSession.objects.filter(sip="ghost").exists()


@pytest.mark.django_db
@pytest.mark.parametrize("backend", IN_MEMORY_LAYERS)
def test_appws_sessions_disconnect_refuses_an_in_memory_layer(settings, backend):
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": backend}}
    make_rows()
    with pytest.raises(CommandError) as refused:
        run("appws_sessions", "--disconnect", "--all")
    assert_says_why_and_what_to_do(refused.value, backend)
    assert "appws_sessions --disconnect" in str(refused.value)
    assert LiveSession.objects.count() == 2  # nothing done, not even half of it


def test_capacity_drops_become_warnings_with_the_topic(caplog):
    capacity.install()
    before = capacity.dropped_indications()
    source = logging.getLogger("channels_redis.core")
    token = capacity.current_topic.set("notes")
    try:
        with caplog.at_level(logging.WARNING, logger="appws.notify"):
            source.info("%s of %s channels over capacity in group %s", 3, 7, "appws.t.notes.x")
    finally:
        capacity.current_topic.reset(token)
    assert capacity.dropped_indications() == before + 3
    warning = next(r for r in caplog.records if r.name == "appws.notify")
    assert "topic 'notes' not delivered to 3 of 7" in warning.getMessage()


def test_capacity_watch_keeps_other_info_records_as_quiet_as_before(caplog):
    capacity.install()
    capacity.install()  # idempotent
    source = logging.getLogger("channels_redis.core")
    assert sum(isinstance(f, capacity._CapacityWatch) for f in source.filters) == 1
    with caplog.at_level(logging.DEBUG):
        source.info("some other channels_redis chatter")
    assert "chatter" not in caplog.text

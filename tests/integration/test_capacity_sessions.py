"""Drops behind a full channels_redis queue count the sessions behind it (real Redis)."""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from channels.layers import get_channel_layer
from channels_redis.core import RedisChannelLayer

from appws.layer import capacity
from appws.layer.notify import anotify
from appws.layer.topics import group_name
from appws.testing import RedisServer
from tests.conftest import require_tool

CAPACITY = 3


@pytest.fixture(scope="module")
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer(require_tool("redis-server", "redis-server")).start()
    yield server
    server.stop()


@pytest.fixture
async def layers(redis_server, settings) -> AsyncIterator[tuple[Any, RedisChannelLayer]]:
    """The configured layer (this process) and another process's layer, on one Redis."""
    config = {
        "hosts": [redis_server.url],
        "prefix": f"t{uuid.uuid4().hex[:8]}",
        "capacity": CAPACITY,
        # Channels of their own, with room: only the process queue below fills up.
        "channel_capacity": {"roomy.*": 1000},
    }
    settings.CHANNEL_LAYERS = {
        "default": {"BACKEND": "channels_redis.core.RedisChannelLayer", "CONFIG": config}
    }
    here, elsewhere = get_channel_layer(), RedisChannelLayer(**config)
    yield here, elsewhere
    await here.flush()
    await elsewhere.flush()


async def test_a_full_process_queue_counts_each_session_behind_it(layers, caplog):
    here, elsewhere = layers
    capacity.install()
    group = group_name("crowd")
    # Five sessions of another process share its one queue; two have queues of their own.
    crowded = [await elsewhere.new_channel() for _ in range(5)]
    for channel in [*crowded, "roomy.a", "roomy.b"]:
        await here.group_add(group, channel)
    for number in range(CAPACITY):  # nobody reads: the shared queue is full after these
        await anotify("crowd", {"mt": "Fill", "n": number})
    before = capacity.dropped_indications()

    with caplog.at_level(logging.WARNING, logger="appws.notify"):
        await anotify("crowd", {"mt": "Over"})

    assert capacity.dropped_indications() == before + 5
    warnings = [r.getMessage() for r in caplog.records if r.name == "appws.notify"]
    assert len(warnings) == 1
    assert "topic 'crowd' not delivered to 5 of 7 subscribed channel(s)" in warnings[0]

"""Send indications to every session subscribed to a topic, from anywhere."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from .capacity import current_topic
from .conf import appws_settings
from .outage import retry_once
from .topics import group_name

#: The channel-layer message type subscribed consumers receive.
INDICATION_TYPE = "appws.indication"


def _event(topic: str, message: Mapping[str, Any]) -> dict[str, Any]:
    if not isinstance(message, Mapping) or not isinstance(message.get("mt"), str):
        raise TypeError('an indication must be a dict with a string "mt"')
    if "src" in message:
        raise ValueError('an indication must not carry "src": each subscriber gets its own')
    return {"type": INDICATION_TYPE, "topic": topic, "message": dict(message)}


async def anotify(topic: str, message: Mapping[str, Any], *, layer: str = "default") -> None:
    """Deliver ``message`` to every session subscribed to ``topic`` (async code).

    Each subscription receives it with its own ``src``. Reaches sessions in
    every server process that shares the channel layer.
    """
    event = _event(topic, message)
    channel_layer = get_channel_layer(layer)
    if channel_layer is None:
        raise RuntimeError("appws.notify needs a channel layer: configure CHANNEL_LAYERS")
    group = group_name(topic, appws_settings()["GROUP_PREFIX"])
    token = current_topic.set(topic)
    try:
        await retry_once(lambda: channel_layer.group_send(group, event))
    finally:
        current_topic.reset(token)


def notify(topic: str, message: Mapping[str, Any], *, layer: str = "default") -> None:
    """Synchronous :func:`anotify`, for views, signals, tasks and commands."""
    async_to_sync(anotify)(topic, message, layer=layer)

"""Send indications to every session subscribed to a topic, from anywhere."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction

from appws.exceptions import LayerUnavailable
from appws.layer import events
from appws.layer.capacity import (
    collecting_full_queues,
    count_lost,
    current_topic,
    report_full_queues,
)
from appws.layer.outage import is_layer_outage
from appws.layer.recovery import Recovery, known_recovery
from appws.layer.topics import group_name

_RESTORING = (
    "the channel layer is back, but this process's sessions are still re-adding their "
    "subscriptions: not every subscriber would get the indication; try again"
)
_DOWN = "the channel layer is unreachable: the indication was not sent; try again"


_PLAIN = json.JSONEncoder()
_DJANGO = DjangoJSONEncoder()


def _plain(message: dict[str, Any]) -> dict[str, Any]:
    """``message``, or a copy with datetimes, Decimals, ... as ``DjangoJSONEncoder`` writes them.

    The channel layer must carry them too (channels_redis packs with msgpack, which has no
    datetime): turned into strings here, once, rather than in every subscriber's process.
    """
    try:
        _PLAIN.encode(message)  # the C encoder: a few microseconds for a usual indication
    except TypeError:
        return dict(json.loads(_DJANGO.encode(message)))
    return message


def _event(topic: str, message: Mapping[str, Any]) -> dict[str, Any]:
    if not isinstance(message, Mapping) or not isinstance(message.get("mt"), str):
        raise TypeError('an indication must be a dict with a string "mt"')
    if "src" in message:
        raise ValueError('an indication must not carry "src": each subscriber gets its own')
    return events.indication(topic, _plain(dict(message)))


async def anotify(topic: str, message: Mapping[str, Any], *, layer: str = "default") -> None:
    """Deliver ``message`` to every session subscribed to ``topic`` (async code).

    Each subscription receives it with its own ``src``. Reaches sessions in
    every server process that shares the channel layer. Raises
    :class:`~appws.LayerUnavailable` when it cannot: the layer is unreachable, or
    sessions of this process have not yet re-added their subscriptions after an outage.
    """
    event = _event(topic, message)
    channel_layer = get_channel_layer(layer)
    if channel_layer is None:
        raise RuntimeError("appws.notify needs a channel layer: configure CHANNEL_LAYERS")
    recovery = known_recovery(channel_layer)
    _refuse_while_restoring(recovery)
    group = group_name(topic)
    token = current_topic.set(topic)
    try:
        with collecting_full_queues() as full:
            await _group_send(channel_layer, group, event, recovery)
        await report_full_queues(channel_layer, topic, full)
    finally:
        current_topic.reset(token)


async def _group_send(
    channel_layer: Any, group: str, event: dict[str, Any], recovery: Recovery | None
) -> None:
    try:
        await channel_layer.group_send(group, event)
        return
    except Exception as error:
        if not is_layer_outage(error):
            raise
        # A first failure may be a pooled connection a restarted Redis left stale,
        # and a restarted Redis has forgotten the groups: restore before claiming.
        if recovery is not None:
            recovery.outage(error)
        _refuse_while_restoring(recovery, error)
    await asyncio.sleep(0.05)  # let the pool drop the stale connection
    try:
        await channel_layer.group_send(group, event)
    except Exception as error:
        if not is_layer_outage(error):
            raise
        if recovery is not None:
            recovery.outage(error)
        raise LayerUnavailable(_DOWN) from error


def _refuse_while_restoring(recovery: Recovery | None, error: BaseException | None = None) -> None:
    if recovery is not None and recovery.restoring():
        raise LayerUnavailable(_RESTORING if error is None else _DOWN) from error


def notify(topic: str, message: Mapping[str, Any], *, layer: str = "default") -> None:
    """Synchronous :func:`anotify`, for views, signals, tasks and commands."""
    async_to_sync(anotify)(topic, message, layer=layer)


def notify_on_commit(
    topic: str, message: Mapping[str, Any], *, layer: str = "default", using: str | None = None
) -> None:
    """:func:`notify` once the current transaction commits (at once outside one).

    For handlers that write, then tell others: an unreachable channel layer loses the
    indication (logged on ``appws.notify``, counted in
    :func:`appws.capacity.lost_notifications`) and never raises into the handler, so its
    reply still says the write happened and a client never retries a stored write.
    Call it from sync code (a sync handler, a view, a task).
    """
    _event(topic, message)  # a malformed indication is the caller's mistake: raise now

    def send() -> None:
        try:
            notify(topic, message, layer=layer)
        except Exception as error:
            if not is_layer_outage(error):
                raise
            count_lost(topic, error)

    transaction.on_commit(send, using=using)

"""Call a connected PBX's API from anywhere in the site: views, tasks, commands.

The request travels over the channel layer to the session holding the PBX's
socket (whichever process that is), which sends it on and answers on a reply
channel of the caller's. Only the site's own code calls this: nothing a client
sends reaches it.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Mapping
from typing import Any

from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.exceptions import ChannelFull
from channels.layers import BaseChannelLayer, get_channel_layer

from appws.conf import get_settings
from appws.exceptions import (
    ApiNotEnabled,
    LayerUnavailable,
    PeerError,
    PeerRequestError,
    PeerTimeout,
    SessionEnded,
)
from appws.layer import events
from appws.layer.memory import default_layer_backend, default_layer_is_in_memory
from appws.layer.outage import is_layer_outage
from appws.pbx.connected import ConnectedPbx, connected_pbxs
from appws.pbx.errors import AmbiguousPbx, NoPbxConnected, PbxBusy, PbxUnreachable
from appws.protocol import PbxIdentity

__all__ = ["REPLY_MARGIN", "arequest", "asend", "request", "send"]

#: Seconds beyond the timeout the holding session has to report one, before the
#: caller gives up on it (its process may have died with the request).
REPLY_MARGIN = 5.0

PbxSelector = PbxIdentity | Mapping[str, str] | str


async def arequest(
    app: str,
    msg: Mapping[str, Any],
    *,
    api: str,
    pbx: PbxSelector | None = None,
    timeout: float | None = None,
) -> dict[str, Any]:
    """Send ``msg`` to the API ``api`` of the PBX connected to App ``app``; return its reply.

    ``pbx`` (a PBX name, an identity, or a dict of some of domain/pbx/sip) picks one
    when several are connected. Raises :class:`~appws.pbx.NoPbxConnected`,
    :class:`~appws.pbx.AmbiguousPbx`, :class:`~appws.pbx.PbxBusy`,
    :class:`~appws.pbx.PbxUnreachable`, :class:`~appws.exceptions.ApiNotEnabled`,
    :class:`~appws.exceptions.PeerTimeout`, :class:`~appws.exceptions.PeerError` (the
    PBX's own error) or :class:`appws.LayerUnavailable`.
    """
    wait = _timeout(timeout)
    layer, target = await _target(app, msg, api, pbx)
    reply_to = await layer.new_channel()
    request_id = uuid.uuid4().hex
    await _deliver(layer, target, events.pbx_request(request_id, api, dict(msg), reply_to, wait))
    try:
        event = await asyncio.wait_for(_reply(layer, reply_to, request_id), wait + REPLY_MARGIN)
    except asyncio.TimeoutError:
        raise PeerTimeout(
            f"No answer from the session of PBX {target.identity} (on {target.process}) "
            f"within {wait + REPLY_MARGIN:g} s: its process may have stopped."
        ) from None
    return _result(event, target, api)


async def asend(
    app: str,
    msg: Mapping[str, Any],
    *,
    api: str,
    pbx: PbxSelector | None = None,
) -> None:
    """Send ``msg`` to the PBX as :func:`arequest` would, without waiting for anything.

    The PBX's answer, if any, is dropped by its session. Raises what :func:`arequest`
    raises before the message leaves.
    """
    layer, target = await _target(app, msg, api, pbx)
    event = events.pbx_request(uuid.uuid4().hex, api, dict(msg), None, _timeout(None))
    await _deliver(layer, target, event)


def request(
    app: str,
    msg: Mapping[str, Any],
    *,
    api: str,
    pbx: PbxSelector | None = None,
    timeout: float | None = None,
) -> dict[str, Any]:
    """:func:`arequest` for synchronous code (views, management commands)."""
    result: dict[str, Any] = async_to_sync(arequest)(app, msg, api=api, pbx=pbx, timeout=timeout)
    return result


def send(app: str, msg: Mapping[str, Any], *, api: str, pbx: PbxSelector | None = None) -> None:
    """:func:`asend` for synchronous code."""
    async_to_sync(asend)(app, msg, api=api, pbx=pbx)


# -- choosing the PBX ----------------------------------------------------------------


def _timeout(timeout: float | None) -> float:
    if timeout is None:
        return get_settings().peer_request_timeout
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0:
        raise ValueError(f"timeout must be a positive number of seconds, not {timeout!r}")
    return float(timeout)


async def _target(
    app: str, msg: Mapping[str, Any], api: str, pbx: PbxSelector | None
) -> tuple[BaseChannelLayer, ConnectedPbx]:
    if not isinstance(msg, Mapping) or not isinstance(msg.get("mt"), str):
        raise ValueError('msg must be a dict with the message type in "mt"')
    if msg.get("api", api) != api:
        raise ValueError(f"msg names the API {msg['api']!r}, the call {api!r}")
    layer = get_channel_layer()
    if layer is None:
        raise PbxUnreachable(
            'CHANNEL_LAYERS has no "default" layer: appws.pbx reaches PBX sessions through it.'
        )
    found = await database_sync_to_async(connected_pbxs)(app)
    return layer, choose(found, app, api, pbx)


def choose(
    found: list[ConnectedPbx], app: str, api: str, pbx: PbxSelector | None = None
) -> ConnectedPbx:
    """The one of ``found`` (connected PBXs of App ``app``) to call ``api`` of."""
    if pbx is not None:
        found = [row for row in found if row.identity.matches(pbx)]
    enabled = [row for row in found if api in row.apis]
    if not enabled:
        without = [row.identity for row in found]
        if pbx is not None and len(without) == 1:
            raise ApiNotEnabled(
                f"PBX {without[0]} is connected to App {app!r} without the API {api!r}: tick "
                "it among the App object's APIs on the PBX."
            )
        raise NoPbxConnected(app, api, without_api=without, narrowed=pbx is not None)
    if len(enabled) > 1:
        raise AmbiguousPbx(app, api, [row.identity for row in enabled])
    target = enabled[0]
    if default_layer_is_in_memory() and not target.in_this_process:
        raise PbxUnreachable(
            f"PBX {target.identity} is connected to another process ({target.process}), and "
            f"the channel layer is {default_layer_backend()}, which cannot reach it: an "
            "in-memory layer lives inside one process. Call from the process serving the "
            "PBX, or configure channels_redis.core.RedisChannelLayer (docs/scaling.md)."
        )
    return target


# -- over the layer and back ---------------------------------------------------------


async def _deliver(layer: BaseChannelLayer, target: ConnectedPbx, event: dict[str, Any]) -> None:
    try:
        await layer.send(target.channel_name, event)
    except ChannelFull:
        raise PbxBusy(
            f"The session of PBX {target.identity} has too many messages waiting: try again later."
        ) from None
    except Exception as error:
        if is_layer_outage(error):
            raise LayerUnavailable(
                f"The channel layer is unreachable: nothing was sent to PBX {target.identity}."
            ) from error
        raise


async def _reply(layer: BaseChannelLayer, reply_to: str, request_id: str) -> dict[str, Any]:
    while True:
        try:
            event: dict[str, Any] = await layer.receive(reply_to)
        except Exception as error:
            if is_layer_outage(error):
                raise LayerUnavailable(
                    "The channel layer became unreachable while waiting for the PBX's reply."
                ) from error
            raise
        # The reply channel is the call's own: anything else on it is no answer to it.
        if event.get("type") == events.PBX_REPLY and event.get("id") == request_id:
            return event


def _result(event: dict[str, Any], target: ConnectedPbx, api: str) -> dict[str, Any]:
    error = event.get("error")
    reply = event.get("reply")
    if error is None and isinstance(reply, dict):
        return reply
    who = f"PBX {target.identity}"
    if error == "peer-error":
        code, text = str(event.get("code") or ""), str(event.get("text") or "")
        raise PeerError(code, text, reply if isinstance(reply, dict) else {})
    if error == "timeout":
        raise PeerTimeout(f"{who} did not answer the {api} request in time.")
    if error == "api-not-enabled":
        raise ApiNotEnabled(f"{who} does not enable the API {api!r} on this connection.")
    if error == "ended":
        raise SessionEnded(f"The connection of {who} ended before it answered.")
    if error == "busy":
        raise PbxBusy(f"The session of {who} has too many requests in flight: try again later.")
    raise PeerRequestError(f"The session of {who} answered {error!r}: {event.get('text', '')}")

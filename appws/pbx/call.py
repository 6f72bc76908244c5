"""Call a connected PBX's API from anywhere in the site: views, tasks, commands.

The request travels over the channel layer to the session holding the PBX's
socket (whichever process that is), which sends it on and answers on a reply
channel of the caller's. Only the site's own code calls this: nothing a client
sends reaches it.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from asgiref.sync import async_to_sync
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
from appws.layer.outage import is_layer_outage
from appws.pbx import targets
from appws.pbx.connected import ConnectedPbx
from appws.pbx.errors import PbxBusy, PbxUnreachable
from appws.pbx.replies import Replies
from appws.pbx.targets import PbxSelector as PbxSelector
from appws.pbx.targets import choose

__all__ = ["REPLY_MARGIN", "STALE_CHECK_AFTER", "arequest", "asend", "choose", "request", "send"]

#: Seconds beyond the timeout the holding session has to report one, before the
#: caller gives up on it (its process may have died with the request).
REPLY_MARGIN = 5.0

#: Seconds without an answer after which a call reads the registry again: a session
#: that ended (its PBX disconnected, or connected again to another one) answers nothing,
#: and a call must not wait its whole timeout on it.
STALE_CHECK_AFTER = 0.5


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
    layer = _layer(msg, api)
    target = await targets.lookup(app, api, pbx)
    message = dict(msg)
    async with Replies(layer) as replies:
        await _deliver(layer, target, replies.request(target, api, message, wait))
        first = min(STALE_CHECK_AFTER, wait + REPLY_MARGIN)
        event = await replies.next(first)
        left = wait + REPLY_MARGIN - first
        if event is None:
            # No answer yet: the PBX may be slow, or its session gone, which the registry
            # says. The same PBX connected again: its new session gets the request.
            now = await targets.recheck(app, api, pbx, target)
            if now is not None:
                if now.identity != target.identity:
                    raise SessionEnded(
                        f"The connection of PBX {target.identity} ended before it answered; "
                        f"PBX {now.identity} is connected now: call again to ask that one."
                    )
                target, left = now, wait + REPLY_MARGIN
                await _deliver(layer, target, replies.request(target, api, message, wait))
            event = await replies.next(left)
        if event is None:
            targets.forget(channel=target.channel_name)
            raise PeerTimeout(
                f"No answer from the session of PBX {target.identity} (on {target.process}) "
                f"within {wait + REPLY_MARGIN:g} s: its process may have stopped."
            )
    return _result(event, replies.target_of(event), api)


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
    layer = _layer(msg, api)
    # Read every time: a message to a session that is gone would be lost unseen.
    target = await targets.lookup(app, api, pbx, fresh=True)
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


def _layer(msg: Mapping[str, Any], api: str) -> BaseChannelLayer:
    if not isinstance(msg, Mapping) or not isinstance(msg.get("mt"), str):
        raise ValueError('msg must be a dict with the message type in "mt"')
    if msg.get("api", api) != api:
        raise ValueError(f"msg names the API {msg['api']!r}, the call {api!r}")
    layer = get_channel_layer()
    if layer is None:
        raise PbxUnreachable(
            'CHANNEL_LAYERS has no "default" layer: appws.pbx reaches PBX sessions through it.'
        )
    return layer


# -- over the layer and back ---------------------------------------------------------


async def _deliver(layer: BaseChannelLayer, target: ConnectedPbx, event: dict[str, Any]) -> None:
    try:
        await layer.send(target.channel_name, event)
    except ChannelFull:
        targets.forget(channel=target.channel_name)  # a session that reads nothing
        raise PbxBusy(
            f"The session of PBX {target.identity} has too many messages waiting: try again later."
        ) from None
    except Exception as error:
        if is_layer_outage(error):
            raise LayerUnavailable(
                f"The channel layer is unreachable: nothing was sent to PBX {target.identity}."
            ) from error
        raise


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
    if error in ("api-not-enabled", "ended"):
        targets.forget(channel=target.channel_name)  # its PBX connects again, or did
    if error == "api-not-enabled":
        raise ApiNotEnabled(f"{who} does not enable the API {api!r} on this connection.")
    if error == "ended":
        raise SessionEnded(f"The connection of {who} ended before it answered.")
    if error == "busy":
        raise PbxBusy(f"The session of {who} has too many requests in flight: try again later.")
    raise PeerRequestError(f"The session of {who} answered {error!r}: {event.get('text', '')}")

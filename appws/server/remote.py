"""Requests for a session's peer that come from other processes, over the channel layer.

``appws.pbx`` sends a :func:`~appws.layer.events.pbx_request` event to the channel
of the session holding the PBX's socket. The session serves it as a task of its own
(never queued behind its handlers): it sends the message to its peer and puts the
answer, or why there is none, on the event's ``reply_to`` channel as a
:func:`~appws.layer.events.pbx_reply`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any, Protocol

from appws.exceptions import (
    ApiNotEnabled,
    PeerError,
    PeerRequestError,
    PeerTimeout,
    SessionEnded,
    TooManyRequests,
)
from appws.layer import events
from appws.server.outgoing import FrameTooLarge

logger = logging.getLogger("appws")

#: Exception -> the ``error`` kind of the reply that reports it.
ERROR_KINDS: tuple[tuple[type[Exception], str], ...] = (
    (PeerTimeout, "timeout"),
    (ApiNotEnabled, "api-not-enabled"),
    (SessionEnded, "ended"),
    (TooManyRequests, "busy"),
)


class Requester(Protocol):
    """What serving a request sees of the session."""

    async def request(
        self, message: Mapping[str, Any], *, api: str, timeout: float | None = None
    ) -> dict[str, Any]:
        """Send ``message`` to the peer and return its reply."""

    async def send_peer(self, message: Mapping[str, Any], *, api: str) -> None:
        """Send ``message`` to the peer."""


async def serve(session: Requester, layer: Any, event: Mapping[str, Any]) -> None:
    """Send the event's message to the peer; answer on ``reply_to`` (unless None)."""
    request_id, api, message = event["id"], event["api"], event["message"]
    reply_to: str | None = event.get("reply_to")
    if reply_to is None:
        try:
            await session.send_peer(message, api=api)
        except (PeerRequestError, FrameTooLarge, ValueError) as error:
            logger.warning("a message for the peer from another process was not sent: %r", error)
        return
    try:
        answer = events.pbx_reply(
            request_id, reply=await session.request(message, api=api, timeout=event["timeout"])
        )
    except asyncio.CancelledError:
        # The session ended meanwhile: say so rather than leave the requester waiting.
        await _answer(layer, reply_to, events.pbx_reply(request_id, error="ended"))
        raise
    except PeerError as error:
        answer = events.pbx_reply(
            request_id, reply=error.reply, error="peer-error", code=error.code, text=error.text
        )
    except (PeerRequestError, FrameTooLarge, ValueError) as error:
        kind = next((kind for cls, kind in ERROR_KINDS if isinstance(error, cls)), "refused")
        answer = events.pbx_reply(request_id, error=kind, text=str(error))
    await _answer(layer, reply_to, answer)


async def _answer(layer: Any, reply_to: str, answer: dict[str, Any]) -> None:
    try:
        await layer.send(reply_to, answer)
    except Exception as error:  # the requester times out; nothing else can be done here
        logger.warning("could not answer a PBX request on %r: %r", reply_to, error)

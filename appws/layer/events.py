"""The channel-layer events a session's consumer receives, by their ``type``.

Channels calls the consumer method named after the type (dots become
underscores): ``appws_indication``, ``appws_disconnect``, ``appws_app_changed``.
"""

from __future__ import annotations

import contextlib
from typing import Any

from appws.protocol import encode_frame

__all__ = [
    "APP_CHANGED",
    "DISCONNECT",
    "FEATURE_EVENT",
    "INDICATION",
    "PBX_REPLACED",
    "PBX_REPLY",
    "PBX_REQUEST",
    "app_changed",
    "disconnect",
    "feature_event",
    "indication",
    "pbx_replaced",
    "pbx_reply",
    "pbx_request",
]

#: An indication for a topic the session subscribed to (:func:`appws.notify`).
INDICATION = "appws.indication"
#: An administrator ended the session.
DISCONNECT = "appws.disconnect"
#: The session's App changed (password, enabled, permissions): re-read it.
APP_CHANGED = "appws.app_changed"
#: A request for the session's peer (a PBX) from another process (``appws.pbx``).
PBX_REQUEST = "appws.pbx_request"
#: The answer to a PBX_REQUEST, sent to the requester's reply channel.
PBX_REPLY = "appws.pbx_reply"
#: A newer connection of the same PBX logged in: end this one.
PBX_REPLACED = "appws.pbx_replaced"
#: For one of the server features (appws.server.features) on the session.
FEATURE_EVENT = "appws.feature"


def indication(topic: str, message: dict[str, Any]) -> dict[str, Any]:
    """The event of one indication for ``topic``: ``message`` (plain JSON values, no ``src``).

    It also carries the message encoded once (``frame``, and its UTF-8 size in
    ``frame_bytes``): every copy to every subscriber is that text with its own
    ``src`` spliced in, instead of an encoding per copy. Left out when the message
    cannot be encoded (NaN): the sessions then refuse it as they would without.
    """
    event: dict[str, Any] = {"type": INDICATION, "topic": topic, "message": message}
    with contextlib.suppress(ValueError):
        event["frame"], event["frame_bytes"] = encode_frame(message)
    return event


def feature_event(feature: str, **payload: Any) -> dict[str, Any]:
    """The event that hands ``payload`` to the feature named ``feature`` on a session."""
    return {**payload, "type": FEATURE_EVENT, "feature": feature}


def disconnect() -> dict[str, Any]:
    """The event that ends a session (admin action, ``appws_sessions --disconnect``)."""
    return {"type": DISCONNECT}


def app_changed(app: str) -> dict[str, Any]:
    """The event that makes a session of App ``app`` re-read it."""
    return {"type": APP_CHANGED, "app": app}


def pbx_request(
    request_id: str,
    api: str,
    message: dict[str, Any],
    reply_to: str | None,
    timeout: float,
) -> dict[str, Any]:
    """Ask the session holding a PBX's socket to send ``message`` to it.

    ``reply_to`` is the channel the answer goes to (:func:`pbx_reply`); None sends without
    waiting for the PBX's reply (``appws.pbx.send``).
    """
    return {
        "type": PBX_REQUEST,
        "id": request_id,
        "api": api,
        "message": message,
        "reply_to": reply_to,
        "timeout": timeout,
    }


def pbx_reply(
    request_id: str,
    *,
    reply: dict[str, Any] | None = None,
    error: str | None = None,
    code: str = "",
    text: str = "",
) -> dict[str, Any]:
    """The answer to a :func:`pbx_request`: the PBX's ``reply``, or why there is none.

    ``error`` names the failure: ``"peer-error"`` (the PBX answered with ``code``/``text``;
    ``reply`` holds its message), ``"timeout"``, ``"api-not-enabled"``, ``"ended"``,
    ``"busy"``, or ``"refused"`` (the message could not be sent at all; ``text`` says why).
    """
    return {
        "type": PBX_REPLY,
        "id": request_id,
        "reply": reply,
        "error": error,
        "code": code,
        "text": text,
    }


def pbx_replaced() -> dict[str, Any]:
    """The event that ends an older connection of a PBX that connected again."""
    return {"type": PBX_REPLACED}

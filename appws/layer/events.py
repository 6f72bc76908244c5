"""The channel-layer events a session's consumer receives, by their ``type``.

Channels calls the consumer method named after the type (dots become
underscores): ``appws_indication``, ``appws_disconnect``, ``appws_app_changed``.
"""

from __future__ import annotations

from typing import Any

__all__ = ["APP_CHANGED", "DISCONNECT", "INDICATION", "app_changed", "disconnect"]

#: An indication for a topic the session subscribed to (:func:`appws.notify`).
INDICATION = "appws.indication"
#: An administrator ended the session.
DISCONNECT = "appws.disconnect"
#: The session's App changed (password, enabled, permissions): re-read it.
APP_CHANGED = "appws.app_changed"


def disconnect() -> dict[str, Any]:
    """The event that ends a session (admin action, ``appws_sessions --disconnect``)."""
    return {"type": DISCONNECT}


def app_changed(app: str) -> dict[str, Any]:
    """The event that makes a session of App ``app`` re-read it."""
    return {"type": APP_CHANGED, "app": app}

"""Serve innovaphone AppWebsocket App Services from a Django site, on Channels."""

from __future__ import annotations

from typing import TYPE_CHECKING

from appws._lazy import lazy_exports
from appws.exceptions import AppwsError, LayerUnavailable

if TYPE_CHECKING:
    from appws.accounts import AppAccount
    from appws.layer.notify import anotify, notify, notify_on_commit
    from appws.server.consumer import AppWebsocketConsumer
    from appws.server.handlers import mt
    from appws.server.session import Session

__version__ = "0.1.0"

__all__ = [
    "AppAccount",
    "AppWebsocketConsumer",
    "AppwsError",
    "LayerUnavailable",
    "Session",
    "__version__",
    "anotify",
    "mt",
    "notify",
    "notify_on_commit",
]

# Everything but the exceptions imports Django: load it on first use, so that
# `import appws` works before settings are configured and the Django-free parts
# (appws.protocol, appws.client, the process helpers of appws.testing) stay so.
_LAZY = {
    "mt": "appws.server.handlers",
    "AppWebsocketConsumer": "appws.server.consumer",
    "anotify": "appws.layer.notify",
    "notify": "appws.layer.notify",
    "notify_on_commit": "appws.layer.notify",
    "AppAccount": "appws.accounts",
    "Session": "appws.server.session",
}


__getattr__, __dir__ = lazy_exports(__name__, _LAZY, __all__)

"""Serve innovaphone AppWebsocket App Services from a Django site, on Channels."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .exceptions import AppwsError
from .handlers import mt

if TYPE_CHECKING:
    from .consumer import AppWebsocketConsumer
    from .notifications import anotify, notify, notify_on_commit
    from .session import AppAccount, Session

__version__ = "0.1.0"

__all__ = [
    "AppAccount",
    "AppWebsocketConsumer",
    "AppwsError",
    "Session",
    "__version__",
    "anotify",
    "mt",
    "notify",
    "notify_on_commit",
]

# The consumer and notify import Django settings-dependent code; load them on
# first use so `import appws` works before settings are configured.
_LAZY = {
    "AppWebsocketConsumer": "consumer",
    "anotify": "notifications",
    "notify": "notifications",
    "notify_on_commit": "notifications",
    "AppAccount": "session",
    "Session": "session",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from importlib import import_module

        return getattr(import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'appws' has no attribute {name!r}")

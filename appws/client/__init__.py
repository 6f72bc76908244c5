"""A Python client for AppWebsocket App Services and PBX App object endpoints (docs/client.md).

    async with Client("wss://example.com/apps/echo", "echo", password=secret) as client:
        reply = await client.request({"mt": "Echo", "text": "hi"})

No Django needed: this package uses ``websockets`` and ``appws.protocol`` only.
"""

from __future__ import annotations

from .connection import Client
from .errors import (
    AppwsClientError,
    ConnectFailed,
    ConnectionLost,
    LoginRefused,
    NoSessionKey,
    RemoteError,
    RequestTimeout,
)
from .login import Credentials, LoginCallback, SiteLogin, password_login
from .subscription import Resubscribed, Subscription
from .sync import SyncClient, SyncSubscription, connect_sync

__all__ = [
    "AppwsClientError",
    "Client",
    "ConnectFailed",
    "ConnectionLost",
    "Credentials",
    "LoginCallback",
    "LoginRefused",
    "NoSessionKey",
    "RemoteError",
    "RequestTimeout",
    "Resubscribed",
    "SiteLogin",
    "Subscription",
    "SyncClient",
    "SyncSubscription",
    "connect_sync",
    "password_login",
]

"""A Python client for AppWebsocket App Services and PBX App object endpoints (docs/client.md).

    async with Client("wss://example.com/apps/echo", "echo", password=secret) as client:
        reply = await client.request({"mt": "Echo", "text": "hi"})

No Django needed: this package uses ``websockets`` and ``appws.protocol`` only.
"""

from __future__ import annotations

from appws.client.connection import Client
from appws.client.errors import (
    AppwsClientError,
    ConnectFailed,
    ConnectionLost,
    LoginRefused,
    NoSessionKey,
    RemoteError,
    RequestTimeout,
)
from appws.client.login import Credentials, LoginCallback, SiteLogin, password_login
from appws.client.servicelogin import AskPbx, ServiceLogin
from appws.client.subscription import Resubscribed, Subscription
from appws.client.sync import SyncClient, SyncSubscription, connect_sync

__all__ = [
    "AppwsClientError",
    "AskPbx",
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
    "ServiceLogin",
    "SiteLogin",
    "Subscription",
    "SyncClient",
    "SyncSubscription",
    "connect_sync",
    "password_login",
]

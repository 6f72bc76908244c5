"""The exceptions of the client: each says what went wrong, all share one base class."""

from __future__ import annotations

from typing import Any

__all__ = [
    "AppwsClientError",
    "ConnectFailed",
    "ConnectionLost",
    "LoginRefused",
    "NoSessionKey",
    "RemoteError",
    "RequestTimeout",
]


class AppwsClientError(Exception):
    """Base class of every error ``appws.client`` raises."""


class LoginRefused(AppwsClientError):
    """The login was refused: by the service (``AppLoginResult`` ``ok: false``) or the issuer.

    ``error_text`` is the server's ``errorText``; ``error`` the issuer's code, if it gave one.
    """

    def __init__(
        self, error_text: str, *, error: str | None = None, reply: dict[str, Any] | None = None
    ) -> None:
        super().__init__(f"login refused: {error_text}")
        self.error_text = error_text
        self.error = error
        self.reply = reply


class RequestTimeout(AppwsClientError, TimeoutError):
    """No reply arrived within the timeout; a reply that comes later is dropped."""


class ConnectionLost(AppwsClientError, ConnectionError):
    """The connection is gone (or never came up) before the operation could complete."""


class ConnectFailed(ConnectionLost):
    """Opening the socket or the handshake failed (refused, TLS, HTTP status, timeout)."""


class RemoteError(AppwsClientError):
    """The reply carries an ``error``: ``error``, ``error_text`` and the whole ``reply``."""

    def __init__(self, reply: dict[str, Any]) -> None:
        self.reply = reply
        self.error: Any = reply.get("error")
        text = reply.get("errorText")
        self.error_text: str | None = text if isinstance(text, str) else None
        detail = f": {self.error_text}" if self.error_text else ""
        super().__init__(f"{reply.get('mt')} failed with error {self.error!r}{detail}")


class NoSessionKey(AppwsClientError):
    """A session-key helper was used without a password login (issued logins have no key)."""

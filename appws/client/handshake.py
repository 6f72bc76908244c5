"""Opening the socket and logging in (docs/protocol.md): CheckBuild, AppChallenge, AppLogin."""

from __future__ import annotations

import asyncio
import importlib.metadata
import inspect
import logging
import ssl as ssl_module
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

from appws.client.errors import AppwsClientError, ConnectFailed, LoginRefused
from appws.client.login import Credentials, LoginCallback, issued_fields, password_login
from appws.protocol import FrameError, decode_frame, encode_login, encode_message
from appws.protocol import session_key as derive_session_key

__all__ = ["Connector", "LoggedIn", "close_text", "tls_context", "websocket_url"]

logger = logging.getLogger("appws.client")

_HANDSHAKE = ("CheckBuildResult", "AppChallengeResult", "AppLoginResult")


def _user_agent() -> str:
    # From the installed metadata, not ``appws.__version__``: the client imports nothing of
    # appws but appws.protocol (importing the package root would load the server's parts).
    try:
        version = importlib.metadata.version("appws")
    except importlib.metadata.PackageNotFoundError:  # run from a source tree
        version = "unknown"
    return f"appws-client/{version}"


def websocket_url(url: str) -> str:
    """``url`` with http(s) turned into ws(s); ValueError for other schemes."""
    scheme, sep, rest = url.partition("://")
    mapped = {"http": "ws", "https": "wss", "ws": "ws", "wss": "wss"}.get(scheme.lower())
    if not sep or mapped is None:
        raise ValueError(f"URL must start with ws://, wss://, http:// or https://: {url!r}")
    return f"{mapped}://{rest}"


def tls_context(
    url: str, cafile: str | None, context: ssl_module.SSLContext | None
) -> ssl_module.SSLContext | None:
    """The TLS context for ``url``: verifying by default; None for ws:// URLs."""
    if not url.startswith("wss://"):
        if cafile is not None or context is not None:
            raise ValueError("cafile= and ssl= need a wss:// (or https://) URL")
        return None
    if cafile is not None and context is not None:
        raise ValueError("give cafile= or ssl=, not both")
    if context is None:
        return ssl_module.create_default_context(cafile=cafile)
    if context.verify_mode == ssl_module.CERT_NONE:
        logger.warning("The ssl context given for %r does not verify certificates", url)
    return context


def close_text(ws: ClientConnection) -> str:
    """Say how ``ws`` closed, with the close code and reason when there are any."""
    # The connection's own close_code and close_reason came in websockets 14.1; its
    # Sans-I/O protocol object has them on every version pyproject.toml allows.
    code, reason = ws.protocol.close_code, ws.protocol.close_reason
    if code is None:
        return "connection closed"
    return f"connection closed (code {code}{': ' + reason if reason else ''})"


@dataclass
class LoggedIn:
    """A socket that has logged in, and what the login gave."""

    ws: ClientConnection
    result: dict[str, Any]
    session_key: str | None
    build_url: str | None


@dataclass
class Connector:
    """Everything needed to open a socket to one App Service and log in."""

    url: str
    app: str
    ssl: ssl_module.SSLContext | None
    password: str | None
    domain: str
    credentials: Credentials | None
    login: LoginCallback | None
    check_build: str | None
    timeout: float
    max_size: int
    ping_interval: float | None
    headers: Mapping[str, str] = field(default_factory=dict)

    async def open(self) -> LoggedIn:
        """Connect and log in; raises ``LoginRefused`` or ``ConnectFailed``."""
        deadline = asyncio.get_running_loop().time() + self.timeout
        ws = await self._connect()
        try:
            return await self._log_in(ws, deadline)
        except ConnectionClosed:
            await ws.close()
            raise ConnectFailed(f"{close_text(ws)} during login to {self.url}") from None
        except BaseException:
            await ws.close()
            raise

    async def _connect(self) -> ClientConnection:
        where = f"cannot connect to {self.url}"
        try:
            return await asyncio.wait_for(
                ws_connect(
                    self.url,
                    ssl=self.ssl,
                    open_timeout=None,
                    max_size=self.max_size,
                    ping_interval=self.ping_interval,
                    ping_timeout=self.ping_interval,
                    user_agent_header=_user_agent(),
                    additional_headers=dict(self.headers) or None,
                ),
                self.timeout,
            )
        except asyncio.TimeoutError:
            raise ConnectFailed(f"{where}: no answer within {self.timeout} s") from None
        except ssl_module.SSLCertVerificationError as exc:
            raise ConnectFailed(
                f"{where}: TLS certificate not trusted ({exc.verify_message}); "
                "pass cafile= or ssl= to trust its CA"
            ) from exc
        except (OSError, InvalidHandshake, InvalidURI) as exc:
            raise ConnectFailed(f"{where}: {exc}") from exc

    async def _receive(self, ws: ClientConnection, deadline: float) -> dict[str, Any]:
        """The next handshake reply; everything else before login is dropped."""
        loop = asyncio.get_running_loop()
        while True:
            try:
                raw = await asyncio.wait_for(ws.recv(), deadline - loop.time())
            except asyncio.TimeoutError:
                raise ConnectFailed(f"no login from {self.url} within {self.timeout} s") from None
            if isinstance(raw, str):
                try:
                    message = decode_frame(raw, self.max_size)
                except FrameError:
                    continue
                if message["mt"] in _HANDSHAKE:
                    return message
            logger.debug("Dropped a message received before login: %.200r", raw)

    async def _log_in(self, ws: ClientConnection, deadline: float) -> LoggedIn:
        # Like the vendor's client: CheckBuild and AppChallenge back to back.
        if self.check_build is not None:
            await ws.send(encode_message({"mt": "CheckBuild", "url": self.check_build}))
        await ws.send(encode_message({"mt": "AppChallenge"}))
        build_url: str | None = None
        key: str | None = None
        challenge: str | None = None
        while True:
            message = await self._receive(ws, deadline)
            if message["mt"] == "CheckBuildResult":
                url = message.get("url")
                build_url = url if isinstance(url, str) else None
            elif message["mt"] == "AppChallengeResult" and challenge is None:
                challenge = message.get("challenge")
                if not isinstance(challenge, str):
                    raise ConnectFailed(f"{self.url} sent no string challenge")
                fields, key = await self._login_fields(challenge)
                await ws.send(encode_login({"mt": "AppLogin", **fields}))
            elif message["mt"] == "AppLoginResult" and challenge is not None:
                if message.get("ok") is not True:
                    text = message.get("errorText")
                    reason = text if isinstance(text, str) else "no reason given"
                    raise LoginRefused(reason, reply=message)
                return LoggedIn(ws, message, key, build_url)

    async def _login_fields(self, challenge: str) -> tuple[dict[str, Any], str | None]:
        if self.password is not None:
            fields = password_login(
                self.app,
                challenge,
                self.password,
                domain=self.domain,
                credentials=self.credentials,
            )
            return fields, derive_session_key(challenge, self.password)
        assert self.login is not None
        try:
            issued = self.login(self.app, challenge)
            if inspect.isawaitable(issued):
                issued = await issued
        except AppwsClientError:
            raise
        except Exception as exc:
            raise ConnectFailed(f"the login callback failed: {exc!r}") from exc
        return issued_fields(self.app, issued), None

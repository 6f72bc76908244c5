"""The asyncio client's public face: ``Client``, its options, requests, the session key.

Its parts: the ``Hub`` (current link, live subscriptions, srcs), the ``Supervisor``
(reading, KeepAlive, reconnecting), each login's ``Link`` and the ``Connector``.
"""

from __future__ import annotations

import inspect
import logging
import ssl as ssl_module
from collections.abc import Awaitable, Callable, Mapping
from types import TracebackType
from typing import Any

from appws.client.errors import ConnectionLost, NoSessionKey
from appws.client.handshake import Connector, tls_context, websocket_url
from appws.client.hub import Hub
from appws.client.link import Link
from appws.client.login import Credentials, LoginCallback, checked_message
from appws.client.subscription import Subscription
from appws.client.supervisor import Supervisor
from appws.protocol import decrypt, encrypt, keyed_hash

__all__ = ["Client"]

logger = logging.getLogger("appws.client")

MessageHandler = Callable[[dict[str, Any]], "Awaitable[None] | None"]


class Client:
    """An AppWebsocket client for one App: ``async with Client(url, app, password=...)``.

    Log in with ``password`` (the vendor's password login, fields adjustable through
    ``domain`` and ``credentials``) or with ``login``, a callback ``(app, challenge) ->
    AppLogin fields``. TLS (``wss://``) verifies certificates: against the system's CAs, or
    ``cafile``, or the ``ssl`` context given. After a lost connection the client reconnects
    with backoff (``backoff`` = first and longest delay, s), logs in again and re-sends the
    live subscriptions; pass ``reconnect=False`` to end instead. It ends as well when the
    server closed the session for good (a code in ``FINAL_CLOSE_CODES``). After the server
    closed it as a slow reader (``CloseCode.SLOW_READER``) the delay keeps doubling across
    the logins in between. After a close that says the server restarts (a code in
    ``RESTART_CLOSE_CODES``) it reconnects within half a second, then with backoff.
    ``keepalive`` sends ``KeepAlive`` after that many seconds without sending. Messages that
    no request or subscription takes go to ``on_message`` (sync or async), else they are
    logged and dropped.
    """

    def __init__(
        self,
        url: str,
        app: str,
        *,
        password: str | None = None,
        domain: str = "",
        credentials: Credentials | None = None,
        login: LoginCallback | None = None,
        check_build: str | None = None,
        cafile: str | None = None,
        ssl: ssl_module.SSLContext | None = None,
        request_timeout: float = 30.0,
        connect_timeout: float = 30.0,
        keepalive: float | None = None,
        reconnect: bool = True,
        backoff: tuple[float, float] = (1.0, 32.0),
        queue_size: int = 256,
        max_size: int = 16 * 1024 * 1024,
        ping_interval: float | None = 20.0,
        on_message: MessageHandler | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        if (password is None) == (login is None):
            raise ValueError("give exactly one of password= and login=")
        if login is not None and (credentials is not None or domain):
            raise ValueError("domain= and credentials= belong to a password login")
        self.url = websocket_url(url)
        self.app = app
        self._connector = Connector(
            url=self.url,
            app=app,
            ssl=tls_context(self.url, cafile, ssl),
            password=password,
            domain=domain,
            credentials=credentials,
            login=login,
            check_build=check_build,
            timeout=connect_timeout,
            max_size=max_size,
            ping_interval=ping_interval,
            headers=dict(headers or {}),
        )
        # Options the parts read from the client each time they need one.
        self.request_timeout = request_timeout
        self.keepalive = keepalive
        self.reconnect = reconnect
        self.backoff = backoff
        self.queue_size = queue_size
        self.max_size = max_size
        self.on_message = on_message
        self.login_result: dict[str, Any] | None = None
        self.build_url: str | None = None
        self._session_key: str | None = None
        self._hub = Hub(self.url, self)
        self._supervisor = Supervisor(
            self._hub,
            self,
            open_link=self._open,
            unrouted=self._unrouted,
            max_size=max_size,
        )

    # Lifecycle.

    async def connect(self) -> Client:
        """Open the socket and log in; raises ``LoginRefused`` or ``ConnectFailed``."""
        if self._supervisor.started or self._hub.closed:
            raise RuntimeError("connect() may be called once per Client")
        link = await self._open()
        self._hub.adopt(link)
        self._supervisor.start(link)
        return self

    async def close(self) -> None:
        """Close the connection for good; pending requests fail, subscriptions end."""
        if self._hub.closed:
            return
        self._hub.end(None)
        await self._supervisor.stop()

    async def __aenter__(self) -> Client:
        return await self.connect()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    @property
    def connected(self) -> bool:
        """True while a socket is open and logged in."""
        return self._hub.link is not None

    @property
    def closed(self) -> bool:
        """True once the client has ended for good (``close()``, or a loss without reconnect)."""
        return self._hub.closed

    @property
    def reconnects(self) -> int:
        """How many times the client has reconnected (logged in again after a loss)."""
        return self._hub.reconnects

    @property
    def last_error(self) -> BaseException | None:
        """Why the last connection was lost or the last reconnect failed; None after a login."""
        return self._hub.last_error

    @property
    def app_domain(self) -> str | None:
        """The ``domain`` of the last ``AppLoginResult``: the service instance's domain."""
        value = self.login_result.get("domain") if self.login_result else None
        return value if isinstance(value, str) else None

    async def wait_connected(self, timeout: float | None = None) -> None:
        """Return once logged in; ``ConnectionLost`` if closed or not in time."""
        await self._hub.ready_link(self._hub.deadline(timeout))

    # Messaging.

    async def request(
        self,
        message: Mapping[str, Any],
        api: str | None = None,
        timeout: float | None = None,
    ) -> dict[str, Any]:
        """Send ``message`` with a fresh ``src`` and return the reply carrying it.

        ``timeout`` (s; ``None``: ``request_timeout``; ``math.inf``: no limit) also bounds
        waiting for a connection while reconnecting. Raises ``RemoteError`` when the reply
        has an ``error``, ``RequestTimeout``, or ``ConnectionLost`` (not connected in time,
        or lost before the reply).
        """
        outgoing = checked_message(message)
        deadline = self._hub.deadline(timeout)
        link = await self._hub.ready_link(deadline)
        src = self._hub.new_src()
        if api is not None:
            outgoing["api"] = api
        outgoing["src"] = src
        return await link.exchange(outgoing, src, deadline=deadline)

    async def send(self, message: Mapping[str, Any], api: str | None = None) -> None:
        """Send ``message`` as it is (no ``src`` added); ``ConnectionLost`` if not logged in."""
        outgoing = checked_message(message)
        link = self._hub.link
        if self._hub.closed or link is None:
            raise ConnectionLost(self._hub.not_connected_text())
        if api is not None:
            outgoing["api"] = api
        await link.send(outgoing)

    def subscribe(
        self,
        message: Mapping[str, Any],
        api: str | None = None,
        *,
        unsubscribe: Mapping[str, Any] | None = None,
        queue_size: int | None = None,
    ) -> Subscription:
        """Return a ``Subscription`` for ``message``: ``await`` it or ``async with`` it.

        ``unsubscribe``: a message sent with the subscription's ``src`` (and ``api``, unless
        it names one) when the subscription is closed.
        """
        return Subscription(
            self._hub,
            message,
            api=api,
            unsubscribe=unsubscribe,
            queue_size=self.queue_size if queue_size is None else queue_size,
        )

    # Session key helpers (password logins only).

    @property
    def session_key(self) -> str | None:
        """The current login's session key (docs/protocol.md); None without a password login.

        A reconnect logs in with a new challenge and so changes the key.
        """
        return self._session_key

    def _key(self) -> str:
        if self._session_key is None:
            raise NoSessionKey("no session key: only a password login derives one")
        return self._session_key

    def encrypt(self, seed: str, text: str) -> str:
        """RC4-encrypt ``text`` with the session key and ``seed``; lowercase hex."""
        return encrypt(self._key(), seed, text)

    def decrypt(self, seed: str, data: str) -> str:
        """Invert ``encrypt``."""
        return decrypt(self._key(), seed, data)

    def hash(self, seed: str, text: str) -> str:
        """Hex SHA-256 of ``seed:session_key:text``."""
        return keyed_hash(self._key(), seed, text)

    # Given to the supervisor.

    async def _open(self) -> Link:
        logged_in = await self._connector.open()
        self.login_result = logged_in.result
        self.build_url = logged_in.build_url
        self._session_key = logged_in.session_key
        self._hub.last_error = None
        return Link(logged_in.ws, self.url)

    async def _unrouted(self, message: dict[str, Any]) -> None:
        """A message no request or subscription waits for: ``on_message``, else logged."""
        if self.on_message is None:
            logger.debug("No receiver for %r from %r", message["mt"], self.url)
            return
        try:
            result = self.on_message(message)
            if inspect.isawaitable(result):
                await result
        except Exception:
            logger.exception("on_message raised; the connection carries on")

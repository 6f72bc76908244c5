"""The asyncio client: login, requests matched by ``src``, subscriptions, reconnects."""

from __future__ import annotations

import asyncio
import inspect
import itertools
import logging
import math
import random
import ssl as ssl_module
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from appws.client.errors import (
    AppwsClientError,
    ConnectionLost,
    NoSessionKey,
    RemoteError,
    RequestTimeout,
)
from appws.client.handshake import Connector, close_text, tls_context, websocket_url
from appws.client.login import Credentials, LoginCallback, checked_message
from appws.client.subscription import Subscription
from appws.protocol import FrameError, decode_frame, decrypt, encode_message, encrypt, keyed_hash

__all__ = ["Client"]

logger = logging.getLogger("appws.client")

#: The server closed the session as a slow reader (it was sent more than its budget).
SLOW_READER_CLOSE_CODE = 4013

MessageHandler = Callable[[dict[str, Any]], "Awaitable[None] | None"]
_SRC_PREFIX = "py"


@dataclass(eq=False)
class _Pending:
    """A request waiting for its reply; with ``reply_mt``, only that ``mt`` (or an error)."""

    future: asyncio.Future[dict[str, Any]]
    reply_mt: str | None = None


@dataclass(eq=False)
class _Link:
    """One logged-in socket and the routes of the srcs sent on it."""

    ws: ClientConnection
    routes: dict[str, _Pending | Subscription] = field(default_factory=dict)
    lost: bool = False
    reason: str = ""


class Client:
    """An AppWebsocket client for one App: ``async with Client(url, app, password=...)``.

    Log in with ``password`` (the vendor's password login, fields adjustable through
    ``domain`` and ``credentials``) or with ``login``, a callback ``(app, challenge) ->
    AppLogin fields``. TLS (``wss://``) verifies certificates: against the system's CAs, or
    ``cafile``, or the ``ssl`` context given. After a lost connection the client reconnects
    with backoff (``backoff`` = first and longest delay, s), logs in again and re-sends the
    live subscriptions; pass ``reconnect=False`` to end instead. After the server closed it
    as a slow reader (4013) the delay keeps doubling across the logins in between.
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
        self.request_timeout = request_timeout
        self.keepalive = keepalive
        self.reconnect = reconnect
        self.backoff = backoff
        self.queue_size = queue_size
        self.max_size = max_size
        self.on_message = on_message

        self.login_result: dict[str, Any] | None = None
        self.build_url: str | None = None
        self.reconnects = 0
        self._slow_reader_delay = 0.0  # the last delay after a slow-reader close
        self.last_error: BaseException | None = None
        self._session_key: str | None = None
        self._counter = itertools.count(1)
        self._link: _Link | None = None
        self._subscriptions: set[Subscription] = set()
        self._ready = asyncio.Event()
        self._stopping = asyncio.Event()
        self._closed = False
        self._supervisor: asyncio.Task[None] | None = None
        self._last_sent = 0.0

    # Lifecycle.

    async def connect(self) -> Client:
        """Open the socket and log in; raises ``LoginRefused`` or ``ConnectFailed``."""
        if self._supervisor is not None or self._closed:
            raise RuntimeError("connect() may be called once per Client")
        link = await self._open()
        self._adopt(link)
        self._supervisor = asyncio.create_task(self._run(link))
        return self

    async def close(self) -> None:
        """Close the connection for good; pending requests fail, subscriptions end."""
        if self._closed:
            return
        self._closed = True
        self._stopping.set()
        self._ready.set()  # wake waiters: they see the client closed
        for subscription in list(self._subscriptions):
            subscription._end(None)
        self._subscriptions.clear()
        link = self._link
        if link is not None:
            await link.ws.close()
        supervisor = self._supervisor
        if supervisor is not None:
            if link is None or link.lost:
                supervisor.cancel()  # between connections: don't wait for a reconnect attempt
            await asyncio.gather(supervisor, return_exceptions=True)

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
        return self._link is not None and not self._link.lost

    @property
    def closed(self) -> bool:
        """True once the client has ended for good (``close()``, or a loss without reconnect)."""
        return self._closed

    @property
    def app_domain(self) -> str | None:
        """The ``domain`` of the last ``AppLoginResult``: the service instance's domain."""
        value = self.login_result.get("domain") if self.login_result else None
        return value if isinstance(value, str) else None

    async def wait_connected(self, timeout: float | None = None) -> None:
        """Return once logged in; ``ConnectionLost`` if closed or not in time."""
        await self._ready_link(self._deadline(timeout))

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
        deadline = self._deadline(timeout)
        link = await self._ready_link(deadline)
        src = self._new_src()
        if api is not None:
            outgoing["api"] = api
        outgoing["src"] = src
        return await self._exchange(link, outgoing, src, deadline=deadline)

    async def send(self, message: Mapping[str, Any], api: str | None = None) -> None:
        """Send ``message`` as it is (no ``src`` added); ``ConnectionLost`` if not logged in."""
        outgoing = checked_message(message)
        link = self._link
        if self._closed or link is None or link.lost:
            raise ConnectionLost(self._not_connected_text())
        if api is not None:
            outgoing["api"] = api
        await self._send_on(link, outgoing)

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
            self,
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

    # Internals used by Subscription.

    def _deadline(self, timeout: float | None) -> float | None:
        """The loop time by which to give up; None for no limit."""
        limit = self.request_timeout if timeout is None else timeout
        if math.isinf(limit):
            return None
        return asyncio.get_running_loop().time() + limit

    def _new_src(self) -> str:
        return f"{_SRC_PREFIX}{next(self._counter)}"

    def _not_connected_text(self) -> str:
        if self._closed:
            return "the client is closed"
        last = f" (last error: {self.last_error})" if self.last_error else ""
        return f"not connected to {self.url}{last}"

    async def _ready_link(self, deadline: float | None) -> _Link:
        loop = asyncio.get_running_loop()
        while True:
            if self._closed:
                raise ConnectionLost(self._not_connected_text())
            link = self._link
            if link is not None and not link.lost:
                return link
            remaining = None if deadline is None else deadline - loop.time()
            if remaining is not None and remaining <= 0:
                raise ConnectionLost(self._not_connected_text())
            try:
                await asyncio.wait_for(self._ready.wait(), remaining)
            except asyncio.TimeoutError:
                raise ConnectionLost(self._not_connected_text()) from None

    async def _send_on(self, link: _Link, message: Mapping[str, Any]) -> None:
        if link.lost:
            raise ConnectionLost(link.reason or "connection lost")
        try:
            await link.ws.send(encode_message(message))
        except ConnectionClosed as exc:
            raise ConnectionLost(close_text(link.ws)) from exc
        self._last_sent = asyncio.get_running_loop().time()

    async def _exchange(
        self,
        link: _Link,
        message: Mapping[str, Any],
        src: str,
        *,
        deadline: float | None,
        reply_mt: str | None = None,
    ) -> dict[str, Any]:
        """Send ``message`` (carrying ``src``) on ``link``; return the checked reply."""
        loop = asyncio.get_running_loop()
        pending = _Pending(loop.create_future(), reply_mt)
        link.routes[src] = pending
        try:
            await self._send_on(link, message)
            reply = await self._wait_reply(pending.future, deadline, message)
        finally:
            if link.routes.get(src) is pending:
                del link.routes[src]
        if reply.get("error"):
            raise RemoteError(reply)
        return reply

    async def _wait_reply(
        self,
        future: asyncio.Future[dict[str, Any]],
        deadline: float | None,
        message: Mapping[str, Any],
    ) -> dict[str, Any]:
        remaining = None if deadline is None else deadline - asyncio.get_running_loop().time()
        try:
            return await asyncio.wait_for(future, remaining)
        except asyncio.TimeoutError:
            raise RequestTimeout(
                f"no reply to {message.get('mt')} (src {message.get('src')}) in time "
                f"from {self.url}"
            ) from None

    async def _open(self) -> _Link:
        logged_in = await self._connector.open()
        self.login_result = logged_in.result
        self.build_url = logged_in.build_url
        self._session_key = logged_in.session_key
        self.last_error = None
        return _Link(logged_in.ws)

    # The connection's life.

    async def _run(self, link: _Link) -> None:
        """Serve ``link``; after a loss reconnect with backoff until closed."""
        error: BaseException | None = None
        try:
            while True:
                await self._serve(link)
                if self._closed or not self.reconnect:
                    error = ConnectionLost(f"{link.reason} ({self.url})")
                    break
                logger.warning("Lost %r: %r; reconnecting", self.url, link.reason)
                # ws.protocol: websockets before 14.1 lack ws.close_code (see close_text).
                code = link.ws.protocol.close_code
                next_link = await self._reconnect(code == SLOW_READER_CLOSE_CODE)
                if next_link is None:
                    break
                link = next_link
        except Exception as exc:  # a bug must not leave waiters hanging
            logger.exception("The client's connection task failed")
            error = exc
        finally:
            self._finish(None if self._closed else error)

    def _finish(self, error: BaseException | None) -> None:
        self._closed = True
        self._ready.set()
        for subscription in list(self._subscriptions):
            subscription._end(error)
        self._subscriptions.clear()

    async def _reconnect(self, slow_reader: bool = False) -> _Link | None:
        first, longest = self.backoff
        delay = first
        if slow_reader:
            # The server will close a client that keeps falling behind again: back
            # off across the logins in between, 4013 after 4013.
            delay = min(self._slow_reader_delay * 2, longest) if self._slow_reader_delay else first
        self._slow_reader_delay = delay if slow_reader else 0.0
        while True:
            wait = random.uniform(delay / 2, delay)  # jitter: not every client at once
            try:
                await asyncio.wait_for(self._stopping.wait(), wait)
                return None  # close() was called
            except asyncio.TimeoutError:
                pass
            delay = min(delay * 2, longest)
            try:
                link = await self._open()
            except AppwsClientError as exc:
                self.last_error = exc
                logger.warning("Reconnecting to %r failed: %r", self.url, exc)
                continue
            if self._closed:
                await link.ws.close()
                return None
            self.reconnects += 1
            logger.info("Reconnected to %r", self.url)
            self._adopt(link)
            return link

    def _adopt(self, link: _Link) -> None:
        self._link = link
        self._ready.set()

    async def _serve(self, link: _Link) -> None:
        tasks = [asyncio.create_task(self._read(link))]
        if self.keepalive:
            tasks.append(asyncio.create_task(self._keep_alive(link, self.keepalive)))
        try:
            for subscription in list(self._subscriptions):
                await subscription._resend(link)
            await tasks[0]
        finally:
            for task in tasks[1:]:
                task.cancel()
            self._ready.clear()
            link.lost = True
            link.reason = link.reason or close_text(link.ws)
            self.last_error = ConnectionLost(link.reason)
            for src, route in list(link.routes.items()):
                del link.routes[src]
                if isinstance(route, _Pending):
                    if not route.future.done():
                        route.future.set_exception(
                            ConnectionLost(f"{link.reason} before the reply to {src}")
                        )
                elif route._ack_waiter is not None and not route._ack_waiter.done():
                    route._ack_waiter.set_exception(
                        ConnectionLost(f"{link.reason} before the reply to {src}")
                    )
            if not tasks[0].done():
                tasks[0].cancel()
            await link.ws.close()

    async def _read(self, link: _Link) -> None:
        try:
            async for raw in link.ws:
                if not isinstance(raw, str):
                    logger.debug("Dropped a binary frame from %r", self.url)
                    continue
                try:
                    message = decode_frame(raw, self.max_size)
                except FrameError as exc:
                    logger.warning("Dropped an unreadable frame from %r: %r", self.url, exc)
                    continue
                await self._dispatch(link, message)
        except ConnectionClosed:
            pass
        link.reason = close_text(link.ws)

    async def _dispatch(self, link: _Link, message: dict[str, Any]) -> None:
        src: str | None = message.get("src")
        route = link.routes.get(src) if src is not None else None
        if isinstance(route, _Pending):
            wanted = route.reply_mt
            if wanted is not None and message["mt"] != wanted and not message.get("error"):
                return  # an indication overtaking an unsubscribe's reply
            del link.routes[message["src"]]
            if not route.future.done():
                route.future.set_result(message)
        elif route is not None:
            await route._deliver(message)
        elif isinstance(src, str) and src.startswith(_SRC_PREFIX):
            logger.debug("Dropped a late message for %r: %r", src, message["mt"])
        elif self.on_message is not None:
            try:
                result = self.on_message(message)
                if inspect.isawaitable(result):
                    await result
            except Exception:
                logger.exception("on_message raised; the connection carries on")
        else:
            logger.debug("No receiver for %r from %r", message["mt"], self.url)

    async def _keep_alive(self, link: _Link, interval: float) -> None:
        loop = asyncio.get_running_loop()
        self._last_sent = loop.time()
        while not link.lost:
            wait = self._last_sent + interval - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
                continue
            try:
                await self._send_on(link, {"mt": "KeepAlive"})
            except ConnectionLost:
                return

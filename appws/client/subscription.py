"""Subscriptions: the indications carrying one request's ``src``, as an async iterator."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Generator, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Protocol

from appws.client.errors import AppwsClientError, ConnectionLost, RemoteError
from appws.client.hub import LiveSubscription
from appws.client.link import Link
from appws.client.login import checked_message

__all__ = ["Resubscribed", "Subscription", "SubscriptionHost"]

logger = logging.getLogger("appws.client")


@dataclass(frozen=True)
class Resubscribed:
    """Yielded by a subscription after a reconnect: indications may have been missed.

    The subscription was sent again (with a new ``src``) on the new connection; ``ack`` is
    the reply to that, ``reconnects`` the client's count of reconnects so far.
    """

    ack: dict[str, Any] = field(repr=False)
    reconnects: int


Item = dict[str, Any] | Resubscribed


class SubscriptionHost(Protocol):
    """What a subscription needs of its client (``appws.client.hub.Hub`` is one)."""

    @property
    def reconnects(self) -> int:
        """How many times the client has reconnected."""

    @property
    def link(self) -> Link | None:
        """The logged-in link, if there is one now."""

    def deadline(self, timeout: float | None) -> float | None:
        """The loop time by which to give up (``None``: the client's default)."""

    def new_src(self) -> str:
        """A ``src`` not used before."""

    async def ready_link(self, deadline: float | None) -> Link:
        """The logged-in link, waiting for one until ``deadline``."""

    def keep(self, subscription: LiveSubscription) -> None:
        """Re-send ``subscription`` on every new link."""

    def forget(self, subscription: LiveSubscription) -> None:
        """Stop re-sending ``subscription``."""


class Subscription:
    """A request whose ``src`` keeps receiving indications; made by ``Client.subscribe``.

    ``await sub`` (or ``async with sub``) sends the request and waits for its reply, kept as
    ``ack``; an error reply raises ``RemoteError``. Iterating yields every later message with
    that ``src``, and ``Resubscribed`` after a reconnect. The buffer holds ``queue_size``
    messages: when it is full the client stops reading the socket until the buffer has room,
    so nothing is dropped, but one slow subscriber stalls the whole connection.
    """

    def __init__(
        self,
        host: SubscriptionHost,
        message: Mapping[str, Any],
        *,
        api: str | None,
        unsubscribe: Mapping[str, Any] | None,
        queue_size: int,
    ) -> None:
        if queue_size < 1:
            raise ValueError("queue_size must be at least 1")
        self._host = host
        self._message = checked_message(message)
        if api is not None:
            self._message["api"] = api
        self._unsubscribe = checked_message(unsubscribe) if unsubscribe is not None else None
        if self._unsubscribe is not None and "api" in self._message:
            self._unsubscribe.setdefault("api", self._message["api"])
        self._queue_size = queue_size
        self._items: deque[Item] = deque()
        self._has_room = asyncio.Event()
        self._has_room.set()
        self._has_data = asyncio.Event()
        self._ack_waiter: asyncio.Future[dict[str, Any]] | None = None
        self._resubscribing = False
        self._started = False
        self._ended = False
        self._end_error: BaseException | None = None
        self._link: Link | None = None
        # What the link's routes and the hub hold of this subscription.
        self._hooks = _Hooks(self)
        self.src: str | None = None
        self.ack: dict[str, Any] | None = None
        self.resubscribed = 0

    @property
    def active(self) -> bool:
        """True from the first acknowledgement until the subscription ends."""
        return self.ack is not None and not self._ended

    async def start(self, timeout: float | None = None) -> Subscription:
        """Send the request and wait for its reply (``ack``); once only."""
        if self._started:
            return self
        self._started = True
        host = self._host
        deadline = host.deadline(timeout)
        link = await host.ready_link(deadline)
        self._ack_waiter = asyncio.get_running_loop().create_future()
        src = self._attach(link)
        sent = {**self._message, "src": src}
        try:
            await link.send(sent)
            ack = await link.wait_reply(self._ack_waiter, deadline, sent)
        except BaseException as exc:
            link.routes.discard(src)
            self._end(exc if isinstance(exc, AppwsClientError) else None)
            raise
        if ack.get("error"):
            link.routes.discard(src)
            error = RemoteError(ack)
            self._end(error)
            raise error
        self.ack = ack
        host.keep(self._hooks)
        current = host.link
        if current is not link and current is not None:
            await self._resend(current)  # the connection changed while we waited
        return self

    def __await__(self) -> Generator[Any, None, Subscription]:
        return self.start().__await__()

    async def __aenter__(self) -> Subscription:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            await self.close()
        except AppwsClientError as error:
            if exc is None:
                raise
            logger.warning("Closing subscription %r failed: %r", self.src, error)

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> Item:
        if not self._started:
            await self.start()
        while True:
            if self._items:
                item = self._items.popleft()
                self._has_room.set()
                if not self._items and not self._ended:
                    self._has_data.clear()
                return item
            if self._ended:
                if self._end_error is not None:
                    raise self._end_error
                raise StopAsyncIteration
            await self._has_data.wait()

    async def close(self) -> dict[str, Any] | None:
        """End the subscription: stop routing, send ``unsubscribe`` if one was given.

        Returns the reply to ``unsubscribe`` (recognised by ``mt`` = its ``mt`` +
        ``Result``, or an ``error``); None when nothing was sent (no unsubscribe message, or
        the connection that carried the subscription is gone, which ended it on the server).
        """
        if self._ended and self._unsubscribe is None:
            return None
        was_active = self.active
        self._end(None)
        host = self._host
        host.forget(self._hooks)
        link, src = self._link, self.src
        if src is None or link is None:
            return None
        current = link is host.link
        if not (was_active and self._unsubscribe is not None and current):
            link.routes.discard(src)
            return None
        message = {**self._unsubscribe, "src": src}
        self._unsubscribe = None
        reply_mt = f"{message.get('mt')}Result"
        return await link.exchange(message, src, deadline=host.deadline(None), reply_mt=reply_mt)

    # What the client's parts call, through _Hooks.

    def _attach(self, link: Link) -> str:
        src = self.src = self._host.new_src()
        self._link = link
        link.routes.listen(src, self._hooks)
        return src

    async def _resend(self, link: Link) -> None:
        """Send the request again on a new connection, with a new src."""
        self._resubscribing = True
        src = self._attach(link)
        with contextlib.suppress(ConnectionLost):  # else sent again on the next connection
            await link.send({**self._message, "src": src})

    async def _deliver(self, message: dict[str, Any]) -> None:
        """Take a message with this src; waits while the buffer is full."""
        if self._ack_waiter is not None and not self._ack_waiter.done():
            self._ack_waiter.set_result(message)
            return
        if self._resubscribing:
            self._resubscribing = False
            if message.get("error"):
                self._host.forget(self._hooks)
                self._end(RemoteError(message), keep_items=True)
                return
            self.ack = message
            self.resubscribed += 1
            await self._put(Resubscribed(ack=message, reconnects=self._host.reconnects))
            return
        await self._put(message)

    def _lost(self, error: ConnectionLost) -> None:
        """The link carrying this subscription is gone: a pending ack fails with ``error``."""
        if self._ack_waiter is not None and not self._ack_waiter.done():
            self._ack_waiter.set_exception(error)

    async def _put(self, item: Item) -> None:
        while len(self._items) >= self._queue_size and not self._ended:
            self._has_room.clear()
            await self._has_room.wait()
        if self._ended:
            return
        self._items.append(item)
        self._has_data.set()

    def _end(self, error: BaseException | None, *, keep_items: bool = True) -> None:
        """Stop taking messages; the iterator drains what it holds, then stops or raises."""
        if self._ended:
            return
        self._ended = True
        self._end_error = error
        if not keep_items:
            self._items.clear()
        if self._ack_waiter is not None and not self._ack_waiter.done():
            self._ack_waiter.set_exception(error or ConnectionLost("subscription closed"))
            self._ack_waiter.exception()  # retrieved: no "never retrieved" warning
        self._has_room.set()
        self._has_data.set()


class _Hooks:
    """A subscription as its link's routes and its hub see it: only the calls they make.

    It is the ``Receiver`` of ``appws.client.link`` and the ``LiveSubscription`` of
    ``appws.client.hub``, so neither reaches the subscription's state.
    """

    def __init__(self, subscription: Subscription) -> None:
        self._subscription = subscription

    async def deliver(self, message: dict[str, Any]) -> None:
        await self._subscription._deliver(message)

    def lost(self, error: ConnectionLost) -> None:
        self._subscription._lost(error)

    async def resend(self, link: Link) -> None:
        await self._subscription._resend(link)

    def end(self, error: BaseException | None) -> None:
        self._subscription._end(error)

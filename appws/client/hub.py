"""What the client's parts share: the current link, the live subscriptions, the srcs, the end.

The ``Client`` (its public face), its ``Supervisor`` (the connection's life) and every
``Subscription`` hold the same ``Hub``; none of them reaches into another.
"""

from __future__ import annotations

import asyncio
import itertools
import math
from typing import Protocol

from appws.client.errors import ConnectionLost
from appws.client.link import Link

__all__ = ["SRC_PREFIX", "Hub", "LiveSubscription", "Timeouts"]

#: Every ``src`` this client makes up starts so; a message carrying one that nobody
#: waits for any more is a late reply, not a message for ``on_message``.
SRC_PREFIX = "py"


class LiveSubscription(Protocol):
    """A subscription the server acknowledged: sent again on every new link, ended at the end."""

    async def resend(self, link: Link) -> None:
        """Subscribe again on ``link`` (a new connection), with a new ``src``."""

    def end(self, error: BaseException | None) -> None:
        """The client ended: stop, raising ``error`` at the end of the iteration if given."""


class Timeouts(Protocol):
    """Read at each use (the ``Client`` option of this name)."""

    request_timeout: float


class Hub:
    """The state of one client's connection, shared by its parts."""

    def __init__(self, url: str, timeouts: Timeouts) -> None:
        self.url = url
        self._timeouts = timeouts
        self.reconnects = 0
        self.last_error: BaseException | None = None
        self._counter = itertools.count(1)
        self._link: Link | None = None
        self._subscriptions: set[LiveSubscription] = set()
        self._ready = asyncio.Event()
        self.stopping = asyncio.Event()  # set once the client ends: stops waiting to reconnect
        self._closed = False

    # The link.

    @property
    def link(self) -> Link | None:
        """The logged-in link requests go to; None while there is none."""
        link = self._link
        return link if link is not None and not link.lost else None

    @property
    def last_link(self) -> Link | None:
        """The link adopted last, even if lost since."""
        return self._link

    def adopt(self, link: Link) -> None:
        """Make ``link`` the current one and wake whoever waits for a connection."""
        self._link = link
        self._ready.set()

    def lose(self, link: Link) -> None:
        """``link`` was lost: waiters now wait for the next one."""
        self._ready.clear()
        self.last_error = ConnectionLost(link.reason)

    async def ready_link(self, deadline: float | None) -> Link:
        """The current link, waiting for one until ``deadline``; else ``ConnectionLost``."""
        loop = asyncio.get_running_loop()
        while True:
            if self._closed:
                raise ConnectionLost(self.not_connected_text())
            link = self.link
            if link is not None:
                return link
            remaining = None if deadline is None else deadline - loop.time()
            if remaining is not None and remaining <= 0:
                raise ConnectionLost(self.not_connected_text())
            try:
                await asyncio.wait_for(self._ready.wait(), remaining)
            except asyncio.TimeoutError:
                raise ConnectionLost(self.not_connected_text()) from None

    def not_connected_text(self) -> str:
        """Why there is no link: closed, or not connected (with the last error)."""
        if self._closed:
            return "the client is closed"
        last = f" (last error: {self.last_error})" if self.last_error else ""
        return f"not connected to {self.url}{last}"

    # Time and srcs.

    def deadline(self, timeout: float | None) -> float | None:
        """The loop time by which to give up (``None``: ``request_timeout``); None: never."""
        limit = self._timeouts.request_timeout if timeout is None else timeout
        if math.isinf(limit):
            return None
        return asyncio.get_running_loop().time() + limit

    def new_src(self) -> str:
        """A ``src`` not used before by this client."""
        return f"{SRC_PREFIX}{next(self._counter)}"

    # Subscriptions and the end.

    def keep(self, subscription: LiveSubscription) -> None:
        """Re-send ``subscription`` on every new link until it is forgotten."""
        self._subscriptions.add(subscription)

    def forget(self, subscription: LiveSubscription) -> None:
        """Stop re-sending ``subscription``."""
        self._subscriptions.discard(subscription)

    def live(self) -> list[LiveSubscription]:
        """The subscriptions to re-send on a new link."""
        return list(self._subscriptions)

    @property
    def closed(self) -> bool:
        """True once the client has ended for good."""
        return self._closed

    def end(self, error: BaseException | None) -> None:
        """End for good: wake every waiter and end the subscriptions (with ``error``)."""
        self._closed = True
        self.stopping.set()
        self._ready.set()  # wake waiters: they see the client closed
        subscriptions, self._subscriptions = self._subscriptions, set()
        for subscription in subscriptions:
            subscription.end(error)

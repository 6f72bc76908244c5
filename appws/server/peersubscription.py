"""A peer subscription: the messages a peer sends back for one request, as an async iterator.

:meth:`appws.server.peer.PeerRequests.subscribe` makes one; the session's reader
pushes each message carrying its ``api`` and ``src`` into it, and a bounded queue
holds them until the service reads them.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Mapping
from typing import Any, Protocol

from appws.exceptions import PeerError, PeerSubscriptionOverflow, PeerTimeout

__all__ = ["PeerSubscription", "reply_error"]


def reply_error(reply: Mapping[str, Any]) -> tuple[str, str] | None:
    """``(code, text)`` when ``reply`` reports an error (``error``/``errorText``, ``err``)."""
    code = reply.get("error") or reply.get("err")
    text = reply.get("errorText")
    if not code and not text:
        return None
    return (str(code) if code else "error"), (str(text) if text else "")


class Owner(Protocol):
    """What a subscription sees of the session's requests."""

    async def send(self, message: Mapping[str, Any], api: str, src: str | None) -> None:
        """Send ``message`` to the peer with ``api`` and ``src``."""

    def forget(self, subscription: PeerSubscription) -> None:
        """Stop routing messages to ``subscription``."""


class PeerSubscription:
    """The messages a peer sends back for one request: its result first, then its updates.

    An async iterator (``async for message in subscription``) and an async context
    manager; ``aclose()`` ends it (appws sends the peer nothing then: stop the
    monitoring with the API's own request if it has one).
    """

    def __init__(
        self,
        owner: Owner,
        message: dict[str, Any],
        key: tuple[str, str],
        limit: int,
        timeout: float,
    ) -> None:
        self._owner = owner
        self._message = message
        self.key = key
        self._limit = limit
        self._timeout = timeout
        self._items: deque[dict[str, Any]] = deque()
        self._end: BaseException | None = None
        self._closed = False
        self._sent = False
        self._first = True
        self._wake: asyncio.Event = asyncio.Event()

    @property
    def src(self) -> str:
        """The ``src`` appws gave the request; the peer's messages for it carry it."""
        return self.key[1]

    def push(self, message: dict[str, Any]) -> None:
        """Called by the session's reader with a message for this subscription."""
        if len(self._items) >= self._limit:
            self.finish(
                PeerSubscriptionOverflow(
                    f"the peer subscription {self.src!r} held {self._limit} unread messages "
                    "(PEER_SUBSCRIPTION_QUEUE) and was sent one more: it has ended"
                )
            )
            return
        self._items.append(message)
        self._wake.set()

    def finish(self, error: BaseException | None) -> None:
        """End the subscription; the iterator raises ``error`` after what it holds."""
        if self._end is None and not self._closed:
            self._end = error
            self._closed = error is None
        self._owner.forget(self)
        self._wake.set()

    async def aclose(self) -> None:
        """End the subscription now: what it holds unread is dropped."""
        self._items.clear()
        self.finish(None)

    def __aiter__(self) -> PeerSubscription:
        return self

    async def __anext__(self) -> dict[str, Any]:
        if not self._sent and not self._closed:
            self._sent = True
            try:
                await self._owner.send(self._message, self.key[0], self.src)
            except BaseException:
                self.finish(None)
                raise
        while not self._items:
            if self._closed:
                raise StopAsyncIteration
            if self._end is not None:
                raise self._end
            self._wake.clear()
            if self._first:
                try:
                    await asyncio.wait_for(self._wake.wait(), self._timeout)
                except asyncio.TimeoutError:
                    self.finish(None)
                    raise PeerTimeout(
                        f"no answer to {self._message['mt']} (api {self.key[0]!r}) "
                        f"from the peer within {self._timeout:g} s"
                    ) from None
            else:
                await self._wake.wait()
        message = self._items.popleft()
        if self._first:
            self._first = False
            error = reply_error(message)
            if error is not None:
                self.finish(None)
                raise PeerError(*error, message)
        return message

    async def __aenter__(self) -> PeerSubscription:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

"""One logged-in socket: sending on it, and the table of the ``src``s waiting on it.

A ``Link`` lives from one login to the loss of its socket; a reconnect makes a new one.
Replies and indications find their receiver through the link's ``Routes``: a request
waits there as a ``Pending`` future, a subscription as a ``Receiver``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from appws.client.errors import ConnectionLost, RemoteError, RequestTimeout
from appws.client.handshake import close_text
from appws.protocol import encode_message

__all__ = ["Link", "Pending", "Receiver", "Routes"]


class Receiver(Protocol):
    """What takes every message with one ``src`` (a subscription)."""

    async def deliver(self, message: dict[str, Any]) -> None:
        """Take a message carrying the receiver's ``src``; may wait (backpressure)."""

    def lost(self, error: ConnectionLost) -> None:
        """The link is gone: fail whatever waits for a reply on it."""


@dataclass(eq=False)
class Pending:
    """A request waiting for its reply; with ``reply_mt``, only that ``mt`` (or an error)."""

    future: asyncio.Future[dict[str, Any]]
    reply_mt: str | None = None


class Routes:
    """Who waits for which ``src`` on one link."""

    def __init__(self) -> None:
        self._routes: dict[str, Pending | Receiver] = {}

    def expect(self, src: str, reply_mt: str | None = None) -> Pending:
        """Route the reply to ``src`` to a new ``Pending`` (replacing a receiver there)."""
        pending = Pending(asyncio.get_running_loop().create_future(), reply_mt)
        self._routes[src] = pending
        return pending

    def listen(self, src: str, receiver: Receiver) -> None:
        """Route every message with ``src`` to ``receiver``."""
        self._routes[src] = receiver

    def discard(self, src: str, route: Pending | Receiver | None = None) -> None:
        """Stop routing ``src``: whatever waits there, or only if it is still ``route``."""
        if route is None or self._routes.get(src) is route:
            self._routes.pop(src, None)

    async def dispatch(self, message: dict[str, Any]) -> bool:
        """Hand ``message`` to whoever waits for its ``src``; False when nobody does."""
        src = message.get("src")
        route = self._routes.get(src) if isinstance(src, str) else None
        if route is None:
            return False
        if isinstance(route, Pending):
            wanted = route.reply_mt
            if wanted is not None and message["mt"] != wanted and not message.get("error"):
                return True  # an indication overtaking an unsubscribe's reply: dropped
            del self._routes[message["src"]]
            if not route.future.done():
                route.future.set_result(message)
        else:
            await route.deliver(message)
        return True

    def fail(self, reason: str) -> None:
        """Empty the table, failing every waiter with ``ConnectionLost``."""
        routes, self._routes = self._routes, {}
        for src, route in routes.items():
            error = ConnectionLost(f"{reason} before the reply to {src}")
            if isinstance(route, Pending):
                if not route.future.done():
                    route.future.set_exception(error)
            else:
                route.lost(error)


class Link:
    """One logged-in socket to ``url``, the routes of the srcs sent on it, and its end."""

    def __init__(self, ws: ClientConnection, url: str) -> None:
        self.ws = ws
        self.url = url
        self.routes = Routes()
        self.lost = False
        self.reason = ""
        self.last_sent = 0.0  # loop time of the last send, for KeepAlive

    @property
    def close_code(self) -> int | None:
        """The code the socket was closed with; None while open or without one."""
        # ws.protocol: websockets before 14.1 lack ws.close_code (see close_text).
        return self.ws.protocol.close_code

    async def send(self, message: Mapping[str, Any]) -> None:
        """Send ``message`` as it is; ``ConnectionLost`` once the link is gone."""
        if self.lost:
            raise ConnectionLost(self.reason or "connection lost")
        try:
            await self.ws.send(encode_message(message))
        except ConnectionClosed as exc:
            raise ConnectionLost(close_text(self.ws)) from exc
        self.last_sent = asyncio.get_running_loop().time()

    async def exchange(
        self,
        message: Mapping[str, Any],
        src: str,
        *,
        deadline: float | None,
        reply_mt: str | None = None,
    ) -> dict[str, Any]:
        """Send ``message`` (carrying ``src``); return its reply, ``RemoteError`` if failed."""
        pending = self.routes.expect(src, reply_mt)
        try:
            await self.send(message)
            reply = await self.wait_reply(pending.future, deadline, message)
        finally:
            self.routes.discard(src, pending)
        if reply.get("error"):
            raise RemoteError(reply)
        return reply

    async def wait_reply(
        self,
        future: asyncio.Future[dict[str, Any]],
        deadline: float | None,
        message: Mapping[str, Any],
    ) -> dict[str, Any]:
        """Wait for the reply to ``message`` until the loop time ``deadline``."""
        remaining = None if deadline is None else deadline - asyncio.get_running_loop().time()
        try:
            return await asyncio.wait_for(future, remaining)
        except asyncio.TimeoutError:
            raise RequestTimeout(
                f"no reply to {message.get('mt')} (src {message.get('src')}) in time "
                f"from {self.url}"
            ) from None

    def end(self) -> None:
        """Mark the link lost and fail everything still waiting on it."""
        self.lost = True
        self.reason = self.reason or close_text(self.ws)
        self.routes.fail(self.reason)

    async def close(self) -> None:
        """Close the socket (the reader then ends the link)."""
        await self.ws.close()

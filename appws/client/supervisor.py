"""The connection's life: read a link until it is lost, then reconnect with backoff."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from websockets.exceptions import ConnectionClosed

from appws.client.backoff import Backoff
from appws.client.errors import AppwsClientError, ConnectionLost
from appws.client.handshake import close_text
from appws.client.hub import SRC_PREFIX, Hub
from appws.client.link import Link
from appws.protocol import (
    FINAL_CLOSE_CODES,
    RESTART_CLOSE_CODES,
    CloseCode,
    FrameError,
    decode_frame,
)

__all__ = ["Policy", "Supervisor"]

logger = logging.getLogger("appws.client")


class Policy(Protocol):
    """How the connection is kept: read at each use (the ``Client`` options of these names)."""

    reconnect: bool
    backoff: tuple[float, float]
    keepalive: float | None


class Supervisor:
    """Serves the current link and replaces it after a loss, until the hub ends.

    ``open_link`` connects and logs in (raising ``AppwsClientError``); ``unrouted`` takes
    the messages that no request or subscription waits for.
    """

    def __init__(
        self,
        hub: Hub,
        policy: Policy,
        *,
        open_link: Callable[[], Awaitable[Link]],
        unrouted: Callable[[dict[str, Any]], Awaitable[None]],
        max_size: int,
    ) -> None:
        self._hub = hub
        self._policy = policy
        self._open_link = open_link
        self._unrouted = unrouted
        self._max_size = max_size
        self._backoff = Backoff()
        self._task: asyncio.Task[None] | None = None

    @property
    def started(self) -> bool:
        """True once ``start`` was called."""
        return self._task is not None

    def start(self, link: Link) -> None:
        """Serve ``link`` (already adopted by the hub) in a task of its own."""
        self._task = asyncio.create_task(self._run(link))

    async def stop(self) -> None:
        """Close the current socket and wait for the task; call after ``hub.end``."""
        link = self._hub.last_link
        if link is not None:
            await link.close()
        task = self._task
        if task is not None:
            if link is None or link.lost:
                task.cancel()  # between connections: don't wait for a reconnect attempt
            await asyncio.gather(task, return_exceptions=True)

    async def _run(self, link: Link) -> None:
        hub = self._hub
        error: BaseException | None = None
        try:
            while True:
                await self._serve(link)
                if hub.closed or not self._policy.reconnect:
                    error = ConnectionLost(f"{link.reason} ({hub.url})")
                    break
                if link.close_code in FINAL_CLOSE_CODES:
                    # Reconnecting would undo what the server decided (docs/errors.md).
                    logger.warning("Lost %r for good: %r; not reconnecting", hub.url, link.reason)
                    error = ConnectionLost(
                        f"{link.reason} ({hub.url}): the server ended the session for good, "
                        "so the client does not reconnect"
                    )
                    break
                logger.warning("Lost %r: %r; reconnecting", hub.url, link.reason)
                next_link = await self._reconnect(
                    slow_reader=link.close_code == CloseCode.SLOW_READER,
                    restart=link.close_code in RESTART_CLOSE_CODES,
                )
                if next_link is None:
                    break
                link = next_link
        except Exception as exc:  # a bug must not leave waiters hanging
            logger.exception("The client's connection task failed")
            error = exc
        finally:
            hub.end(None if hub.closed else error)

    async def _reconnect(self, *, slow_reader: bool, restart: bool) -> Link | None:
        hub = self._hub
        first, longest = self._policy.backoff
        delays = self._backoff.delays(first, longest, slow_reader=slow_reader, restart=restart)
        while True:
            try:
                await asyncio.wait_for(hub.stopping.wait(), next(delays))
                return None  # the client was closed
            except asyncio.TimeoutError:
                pass
            try:
                link = await self._open_link()
            except AppwsClientError as exc:
                hub.last_error = exc
                logger.warning("Reconnecting to %r failed: %r", hub.url, exc)
                continue
            if hub.closed:
                await link.close()
                return None
            hub.reconnects += 1
            logger.info("Reconnected to %r", hub.url)
            hub.adopt(link)
            return link

    async def _serve(self, link: Link) -> None:
        tasks = [asyncio.create_task(self._read(link))]
        keepalive = self._policy.keepalive
        if keepalive:
            tasks.append(asyncio.create_task(self._keep_alive(link, keepalive)))
        try:
            for subscription in self._hub.live():
                await subscription.resend(link)
            await tasks[0]
        finally:
            for task in tasks[1:]:
                task.cancel()
            link.end()
            self._hub.lose(link)
            if not tasks[0].done():
                tasks[0].cancel()
            await link.close()

    async def _read(self, link: Link) -> None:
        url = self._hub.url
        try:
            async for raw in link.ws:
                if not isinstance(raw, str):
                    logger.debug("Dropped a binary frame from %r", url)
                    continue
                try:
                    message = decode_frame(raw, self._max_size)
                except FrameError as exc:
                    logger.warning("Dropped an unreadable frame from %r: %r", url, exc)
                    continue
                await self._dispatch(link, message)
        except ConnectionClosed:
            pass
        link.reason = close_text(link.ws)

    async def _dispatch(self, link: Link, message: dict[str, Any]) -> None:
        if await link.routes.dispatch(message):
            return
        src = message.get("src")
        if isinstance(src, str) and src.startswith(SRC_PREFIX):
            logger.debug("Dropped a late message for %r: %r", src, message["mt"])
        else:
            await self._unrouted(message)

    async def _keep_alive(self, link: Link, interval: float) -> None:
        loop = asyncio.get_running_loop()
        link.last_sent = loop.time()
        while not link.lost:
            wait = link.last_sent + interval - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
                continue
            try:
                await link.send({"mt": "KeepAlive"})
            except ConnectionLost:
                return

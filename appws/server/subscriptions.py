"""A session's subscriptions to topics, through the channel layer.

One subscription per ``(topic, src)``; indications are stamped with each
subscription's ``src``; a channel-layer outage costs no subscription (the groups
are re-added when the layer is back, by the process-wide
:class:`~appws.layer.recovery.Recovery`). The consumer holds one
:class:`Subscriptions` and hands it the frames to send through a :class:`Sender`;
a :class:`Membership` hears of every group the session joins and leaves.
"""

from __future__ import annotations

import asyncio
from typing import Any, Protocol

from django.core.exceptions import ImproperlyConfigured

from appws.conf import AppwsSettings
from appws.exceptions import AppwsError
from appws.layer.capacity import count_dropped
from appws.layer.outage import is_layer_outage, is_read_timeout, retry_once
from appws.layer.recovery import Recovery, recovery_for
from appws.layer.topics import group_name
from appws.protocol.envelope import with_src
from appws.server import values
from appws.server.connection import Sender
from appws.server.outgoing import FrameTooLarge

#: ``remove(topic)`` without a src: every subscription to the topic.
EVERY_SRC: Any = object()


class Membership(Protocol):
    """Who keeps the session's groups where a sweep of a crashed process finds them."""

    async def joining(self, group: str) -> None:
        """Called before the session's channel joins ``group``; return once it is kept."""

    def left(self, group: str) -> None:
        """Called after the session's channel left ``group``."""


class _NoMembership:
    async def joining(self, group: str) -> None:
        return None

    def left(self, group: str) -> None:
        return None


def _cancelled() -> bool:
    """Whether this task is being cancelled (the session is over).

    A cancellation that lands inside redis-py's read timeout comes out as a
    TimeoutError: taken for an outage, the receive loop would outlive its session.
    """
    task = asyncio.current_task()
    cancelling = getattr(task, "cancelling", None)  # Python 3.11+
    return bool(cancelling is not None and cancelling())


class Subscriptions:
    """Subscribe, unsubscribe, deliver indications, survive layer outages."""

    def __init__(
        self,
        sender: Sender,
        layer: Any,
        channel_name: str,
        options: AppwsSettings,
        owner: str,
        membership: Membership | None = None,
    ) -> None:
        self._sender = sender
        self._membership = membership or _NoMembership()
        self._layer_or_none = layer
        self._channel = channel_name
        self._options = options
        self._prefix: str = options.group_prefix
        self._owner = owner  # the service's class name, for log lines
        # topic -> the src of each subscription to it (None: subscribed without src)
        self._topics: dict[str, list[str | None]] = {}
        self._closed = False
        self._group_refresh: asyncio.TimerHandle | None = None
        self._refresh_task: asyncio.Task[None] | None = None
        self._recovery: Recovery | None = None
        if layer is not None:
            self._recovery = recovery_for(layer)
            self._recovery.join(self)
        # Held while re-adding groups, so that close() cannot discard a group in between;
        # made when first needed: most sessions never subscribe.
        self._rejoining: asyncio.Lock | None = None

    def _rejoin_lock(self) -> asyncio.Lock:
        if self._rejoining is None:
            self._rejoining = asyncio.Lock()
        return self._rejoining

    def snapshot(self) -> dict[str, tuple[str | None, ...]]:
        """Topic -> the ``src`` of each live subscription to it."""
        return {topic: tuple(sources) for topic, sources in self._topics.items()}

    def __bool__(self) -> bool:
        return bool(self._topics)

    async def add(self, topic: str, src: str | None) -> None:
        """Subscribe to ``topic`` with ``src``; the same pair again changes nothing.

        Once the session has ended, nothing: no group may outlive its release.
        """
        if self._closed:
            return
        sources = self._topics.get(topic)
        if sources is None or src not in sources:
            limit = self._options.max_subscriptions
            if sum(map(len, self._topics.values())) >= limit:
                raise AppwsError(
                    "too-many-subscriptions",
                    f"a session may hold {limit} subscriptions: end one before starting another",
                )
        if sources is None:
            group = group_name(topic, self._prefix)
            layer = self._layer()
            # Kept first: a crash right after the join must leave a trace to sweep.
            await self._membership.joining(group)
            try:
                await retry_once(lambda: layer.group_add(group, self._channel))
            except Exception as error:
                if is_layer_outage(error):
                    self._outage(error)
                    raise AppwsError(
                        "unavailable", "subscriptions are unavailable for a moment: try again"
                    ) from error
                raise
            sources = self._topics[topic] = []
            self._schedule_group_refresh()
        if src not in sources:
            sources.append(src)

    def _schedule_group_refresh(self) -> None:
        # channels_redis forgets a group member after its group_expiry (a day
        # by default), and a PBX stays connected for weeks: re-add in time.
        seconds = self._options.group_refresh_seconds
        if self._group_refresh is None and seconds:
            loop = asyncio.get_running_loop()
            self._group_refresh = loop.call_later(seconds, self._refresh_groups_soon)

    def _refresh_groups_soon(self) -> None:
        self._group_refresh = None
        if self._topics and not self._closed:
            self._refresh_task = asyncio.ensure_future(self._refresh_groups())

    async def _refresh_groups(self) -> None:
        try:
            for topic in list(self._topics):
                await self._layer().group_add(group_name(topic, self._prefix), self._channel)
        except Exception as error:
            if not is_layer_outage(error):
                raise
            self._outage(error)  # the recovery re-adds everything once the layer is back
        self._schedule_group_refresh()

    def _stop_group_refresh(self) -> None:
        if self._group_refresh is not None:
            self._group_refresh.cancel()
            self._group_refresh = None

    async def remove(self, topic: str, src: str | None = EVERY_SRC) -> bool:
        """End the subscription to ``topic`` with ``src`` (default: all of them).

        Return whether there was anything to end.
        """
        sources = self._topics.get(topic)
        if sources is None:
            return False
        if src is not EVERY_SRC:
            if src not in sources:
                return False
            sources.remove(src)
            if sources:
                return True
        del self._topics[topic]
        group = group_name(topic, self._prefix)
        try:
            await self._layer().group_discard(group, self._channel)
        except Exception as error:
            # Forgotten locally, which is what counts: a stale group entry expires.
            if not is_layer_outage(error):
                raise
            return True  # still kept: a sweep may take the channel out yet
        self._membership.left(group)
        return True

    async def remove_all(self) -> None:
        """End every subscription."""
        for topic in list(self._topics):
            await self.remove(topic)
        self._stop_group_refresh()

    async def close(self) -> None:
        """End every subscription for good: the session is over."""
        self._closed = True
        self._stop_group_refresh()
        if self._recovery is not None:
            self._recovery.leave(self)
        if self._layer_or_none is not None and self._topics:
            async with self._rejoin_lock():
                await self.remove_all()

    async def deliver(self, event: dict[str, Any]) -> None:
        """Send an indication from :func:`appws.notify`, once per subscription to its topic.

        A copy over ``MAX_OUTGOING_BYTES`` is dropped; copies beyond
        ``MAX_INDICATION_BYTES`` together close the session as a slow reader.
        """
        topic: str = event["topic"]
        sources = self._topics.get(topic)
        if not sources or self._closed:
            return
        message = event["message"]
        budget: int = self._options.max_indication_bytes
        handed = 0
        too_large: FrameTooLarge | None = None
        oversized = 0
        copies = list(sources)  # a slow-reader close ends the subscriptions meanwhile
        base = values.indication_frame(event)
        if len(copies) > 1:
            try:
                # Without a src the copy is smallest: too large so, every copy is; no
                # need to encode each one to find out.
                self._sender.check_size((base or values.encode_frame(message))[1])
            except FrameTooLarge as error:
                reason = f"{error.size} bytes, over MAX_OUTGOING_BYTES ({error.limit})"
                count_dropped(topic, len(copies), reason)
                return
        for index, src in enumerate(copies):
            if base is not None and src is None:
                text, size = base
            elif base is not None and isinstance(src, str):
                text, size = with_src(*base, src)
            else:  # its own src, or a handler subscribed with one that is no string
                copy = message if src is None else {**message, "src": src}
                text, size = values.encode_frame(copy)
            try:
                self._sender.check_size(size)
            except FrameTooLarge as error:
                too_large, oversized = error, oversized + 1
                continue
            handed += size
            if handed > budget:
                await self._sender.end_slow_reader(
                    f"the {len(copies)} copies of an indication for topic {topic!r} "
                    f"are more than MAX_INDICATION_BYTES ({budget})"
                )
            if handed > budget or not await self._sender.send_frame(text, size):
                count_dropped(topic, len(copies) - index, "its session is closed as a slow reader")
                break
        if too_large is not None:
            count_dropped(
                topic,
                oversized,
                f"{too_large.size} bytes, over MAX_OUTGOING_BYTES ({too_large.limit})",
            )

    def _layer(self) -> Any:
        if self._layer_or_none is None:
            raise ImproperlyConfigured(
                "appws subscriptions need a channel layer: set CHANNEL_LAYERS "
                "(InMemoryChannelLayer for one process, channels_redis beyond)"
            )
        return self._layer_or_none

    def _outage(self, error: BaseException) -> None:
        if self._recovery is not None:
            self._recovery.outage(error)

    async def receive(self) -> Any:
        """The next event on the session's channel, waiting out outages of the layer."""
        while True:
            try:
                return await self._layer().receive(self._channel)
            except Exception as error:
                if is_read_timeout(error) and not _cancelled():
                    continue  # redis-py cut the blocking read short (W010): nothing came
                if not is_layer_outage(error) or _cancelled() or self._recovery is None:
                    raise
                # One process-wide probe decides when to try again; it also re-adds
                # this session's groups (see appws.layer.recovery).
                await self._recovery.wait(error)

    async def rejoin(self) -> None:
        """Re-add every subscribed group: a restarted layer, or a sweep, forgot them.

        Indications sent while the session was out of its groups are lost.
        """
        async with self._rejoin_lock():
            for topic in list(self._topics):
                if self._closed:
                    return
                await self._layer().group_add(group_name(topic, self._prefix), self._channel)

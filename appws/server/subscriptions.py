"""Subscriptions of a session to topics, through the channel layer.

A mixin of :class:`appws.AppWebsocketConsumer`: one subscription per
``(topic, src)``, indications stamped with each subscription's ``src``, and
survival of a channel-layer outage (the groups are re-added when it is back).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ImproperlyConfigured

from appws import protocol
from appws.exceptions import AppwsError
from appws.layer.capacity import count_dropped
from appws.layer.outage import is_layer_outage, retry_once
from appws.layer.topics import group_name
from appws.server.outgoing import FrameTooLarge

logger = logging.getLogger("appws")


class Subscriptions:
    """Subscribe, unsubscribe, deliver indications."""

    _subscriptions: dict[str, list[str | None]]
    _group_prefix: str
    _options: dict[str, Any]
    _closed: bool
    _group_refresh: asyncio.TimerHandle | None = None
    _refresh_task: asyncio.Task[None] | None = None

    if TYPE_CHECKING:  # provided by Channels' consumer
        channel_layer: Any
        channel_name: str

        async def send_json(self, content: Any, close: bool = False) -> None: ...

    if TYPE_CHECKING:  # provided by the consumer

        def check_size(self, size: int) -> None: ...

        async def send_frame(self, text: str, size: int, *, close: bool = False) -> bool: ...

        async def close_slow_reader(self, reason: str) -> None: ...

    async def subscribe(self, topic: str, request: Mapping[str, Any] | None = None) -> None:
        """Subscribe this session to ``topic``; indications carry ``request``'s ``src``.

        Subscribing again with another ``src`` adds a subscription; with the
        same ``src`` it changes nothing.
        """
        src = request.get("src") if request is not None else None
        sources = self._subscriptions.get(topic)
        if sources is None or src not in sources:
            limit = self._options["MAX_SUBSCRIPTIONS"]
            if sum(map(len, self._subscriptions.values())) >= limit:
                raise AppwsError(
                    "too-many-subscriptions",
                    f"a session may hold {limit} subscriptions: end one before starting another",
                )
        if sources is None:
            group = group_name(topic, self._group_prefix)
            layer = self._layer()
            try:
                await retry_once(lambda: layer.group_add(group, self.channel_name))
            except Exception as error:
                if is_layer_outage(error):
                    raise AppwsError(
                        "unavailable", "subscriptions are unavailable for a moment: try again"
                    ) from error
                raise
            sources = self._subscriptions[topic] = []
            self._schedule_group_refresh()
        if src not in sources:
            sources.append(src)

    def _schedule_group_refresh(self) -> None:
        # channels_redis forgets a group member after its group_expiry (a day
        # by default), and a PBX stays connected for weeks: re-add in time.
        seconds = self._options["GROUP_REFRESH_SECONDS"]
        if self._group_refresh is None and seconds:
            loop = asyncio.get_running_loop()
            self._group_refresh = loop.call_later(seconds, self._refresh_groups_soon)

    def _refresh_groups_soon(self) -> None:
        self._group_refresh = None
        if self._subscriptions and not self._closed:
            self._refresh_task = asyncio.ensure_future(self._refresh_groups())

    async def _refresh_groups(self) -> None:
        try:
            for topic in list(self._subscriptions):
                await self.channel_layer.group_add(
                    group_name(topic, self._group_prefix), self.channel_name
                )
        except Exception as error:
            if not is_layer_outage(error):
                raise
            # The outage path of the receive loop rejoins everything anyway.
        self._schedule_group_refresh()

    def _stop_group_refresh(self) -> None:
        if self._group_refresh is not None:
            self._group_refresh.cancel()
            self._group_refresh = None

    async def unsubscribe(self, topic: str, request: Mapping[str, Any] | None = None) -> bool:
        """End the subscription to ``topic`` made with ``request``'s ``src``.

        Without ``request``, end every subscription to ``topic``. Return whether
        there was anything to end.
        """
        sources = self._subscriptions.get(topic)
        if sources is None:
            return False
        if request is not None:
            src = request.get("src")
            if src not in sources:
                return False
            sources.remove(src)
            if sources:
                return True
        del self._subscriptions[topic]
        try:
            await self._layer().group_discard(
                group_name(topic, self._group_prefix), self.channel_name
            )
        except Exception as error:
            # Forgotten locally, which is what counts: a stale group entry expires.
            if not is_layer_outage(error):
                raise
        return True

    async def unsubscribe_all(self) -> None:
        """End every subscription of this session."""
        for topic in list(self._subscriptions):
            await self.unsubscribe(topic)
        self._stop_group_refresh()

    @property
    def subscriptions(self) -> dict[str, tuple[str | None, ...]]:
        """Topic -> the ``src`` of each live subscription to it."""
        return {topic: tuple(sources) for topic, sources in self._subscriptions.items()}

    async def appws_indication(self, event: Mapping[str, Any]) -> None:
        """Called with an indication from :func:`appws.notify`: send it per subscription.

        A copy over ``MAX_OUTGOING_BYTES`` is dropped; copies beyond
        ``MAX_INDICATION_BYTES`` together close the session as a slow reader.
        """
        topic: str = event["topic"]
        sources = self._subscriptions.get(topic)
        if not sources or self._closed:
            return
        message = event["message"]
        budget: int = self._options["MAX_INDICATION_BYTES"]
        handed = 0
        too_large: FrameTooLarge | None = None
        oversized = 0
        copies = list(sources)  # a slow-reader close ends the subscriptions meanwhile
        if len(copies) > 1:
            try:
                # Without a src the copy is smallest: too large so, every copy is; no
                # need to encode each one to find out.
                self.check_size(protocol.encode_frame(message)[1])
            except FrameTooLarge as error:
                reason = f"{error.size} bytes, over MAX_OUTGOING_BYTES ({error.limit})"
                count_dropped(topic, len(copies), reason)
                return
        for index, src in enumerate(copies):
            text, size = protocol.encode_frame(message if src is None else {**message, "src": src})
            try:
                self.check_size(size)
            except FrameTooLarge as error:
                too_large, oversized = error, oversized + 1
                continue
            handed += size
            if handed > budget:
                await self.close_slow_reader(
                    f"the {len(copies)} copies of an indication for topic {topic!r} "
                    f"are more than MAX_INDICATION_BYTES ({budget})"
                )
            if handed > budget or not await self.send_frame(text, size):
                count_dropped(topic, len(copies) - index, "its session is closed as a slow reader")
                break
        if too_large is not None:
            count_dropped(
                topic,
                oversized,
                f"{too_large.size} bytes, over MAX_OUTGOING_BYTES ({too_large.limit})",
            )

    def _layer(self) -> Any:
        if self.channel_layer is None:
            raise ImproperlyConfigured(
                "appws subscriptions need a channel layer: set CHANNEL_LAYERS "
                "(InMemoryChannelLayer for one process, channels_redis beyond)"
            )
        return self.channel_layer

    async def _receive_from_layer(self) -> Any:
        while True:
            try:
                return await self.channel_layer.receive(self.channel_name)
            except Exception as error:
                if not is_layer_outage(error):
                    raise
                logger.warning(
                    "channel layer unreachable (%s): %s keeps its socket and rejoins its "
                    "subscriptions when the layer is back",
                    type(error).__name__,
                    type(self).__qualname__,
                )
            await self._rejoin_groups()

    async def _rejoin_groups(self) -> None:
        """Wait for the layer to come back, then re-add every subscribed group.

        A restarted Redis has forgotten the groups; indications sent while it
        was down are lost.
        """
        delay = 0.1
        while True:
            await asyncio.sleep(delay)  # backing off from an unreachable server
            try:
                await self.channel_layer.new_channel()  # cheap probe of the layer
                for topic in list(self._subscriptions):
                    group = group_name(topic, self._group_prefix)
                    await self.channel_layer.group_add(group, self.channel_name)
            except Exception as error:
                if not is_layer_outage(error):
                    raise
                delay = min(delay * 2, 2.0)
                continue
            logger.info(
                "channel layer back: %s rejoined %d topic(s)",
                type(self).__qualname__,
                len(self._subscriptions),
            )
            return

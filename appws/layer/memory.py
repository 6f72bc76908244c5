"""A faster in-memory channel layer for one-process sites, and which layers stay in one."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable, Mapping
from copy import deepcopy
from typing import Any, cast

from channels.exceptions import ChannelFull
from channels.layers import InMemoryChannelLayer as ChannelsInMemoryChannelLayer
from django.conf import settings

from appws.layer import events

IN_MEMORY_LAYER = "appws.layers.InMemoryChannelLayer"
#: Backends whose messages never leave the process that sent them.
IN_MEMORY_LAYERS = frozenset({IN_MEMORY_LAYER, "channels.layers.InMemoryChannelLayer"})

#: Seconds between sweeps for expired messages and group memberships.
SWEEP_INTERVAL = 1.0

_ATOMS = frozenset({str, int, float, bool, type(None)})


def _json_copy(value: Any) -> Any:
    """A copy of JSON-shaped ``value`` as ``deepcopy`` makes it, in a third of the time.

    Only for what is known to be free of cycles (an encoded indication): shared
    parts are copied apart, which JSON cannot tell.
    """
    kind = type(value)
    if kind is dict:
        return {k: v if type(v) in _ATOMS else _json_copy(v) for k, v in value.items()}
    if kind is list:
        return [v if type(v) in _ATOMS else _json_copy(v) for v in value]
    if kind in _ATOMS:
        return value
    return deepcopy(value)


class _Mailbox:
    """The messages waiting on one channel: what Channels reads of its ``asyncio.Queue``.

    An ``asyncio.Queue`` costs more to make than to use (about 1.3 µs: two deques of
    waiters and an ``Event``), and a fan-out makes one per idle subscriber; receivers
    wait on futures here (``_receivers``), so a deque is all a channel needs. Channels'
    ``_clean_expired`` reads ``empty()``, ``get_nowait()`` and ``_queue`` of it.
    """

    __slots__ = ("_queue", "maxsize")

    def __init__(self, maxsize: int) -> None:
        self._queue: deque[tuple[float, dict[str, Any]]] = deque()
        self.maxsize = maxsize

    def empty(self) -> bool:
        return not self._queue

    def full(self) -> bool:
        return 0 < self.maxsize <= len(self._queue)

    def qsize(self) -> int:
        return len(self._queue)

    def put_nowait(self, item: tuple[float, dict[str, Any]]) -> None:
        self._queue.append(item)

    def get_nowait(self) -> tuple[float, dict[str, Any]]:
        return self._queue.popleft()


class InMemoryChannelLayer(ChannelsInMemoryChannelLayer):
    """Channels' in-memory layer, sweeping at most once a second, sending to groups in one go.

    Channels' own layer walks every channel and every group membership on each
    ``receive()`` and ``group_send()``, so one indication to n subscribers costs
    about n² steps. Expiry is measured in minutes; a sweep per second keeps it.
    Its ``group_send`` also starts a task per member, and every ``send`` builds a
    queue it mostly throws away: here each member's copy is queued directly, with the
    same checks, the same copy per member and the same skipping of a full channel, in
    a light mailbox that lives only while messages wait.
    """

    _last_sweep = 0.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # channel -> its receivers waiting for a message, in the order they came
        self._receivers: dict[str, list[asyncio.Future[None]]] = {}

    async def receive(self, channel: str) -> dict[str, Any]:
        """The first message on ``channel``, waiting for one.

        Channels' own ``receive`` keeps an empty queue (about 3 KiB) for each
        channel waited on, which is every idle session's; here a waiting receiver
        holds a future, and a channel has a queue only while messages wait on it.
        """
        self.require_valid_channel_name(channel)
        self._clean_expired()
        while True:
            queue = self._mailbox(channel)
            if queue is not None and not queue.empty():
                _, message = queue.get_nowait()
                if queue.empty():
                    self.channels.pop(channel, None)
                return message
            await self._wait(channel)

    async def _wait(self, channel: str) -> None:
        waiter = asyncio.get_running_loop().create_future()
        waiters = self._receivers.setdefault(channel, [])
        waiters.append(waiter)
        try:
            await waiter
        except BaseException:
            if waiter.done() and not waiter.cancelled():
                self._wake(channel, waiter)  # woken, then cancelled: the next one reads
            raise
        finally:
            waiters.remove(waiter)
            if not waiters and self._receivers.get(channel) is waiters:
                del self._receivers[channel]

    def _wake(self, channel: str, skip: asyncio.Future[None] | None = None) -> None:
        for waiter in self._receivers.get(channel, ()):
            if waiter is not skip and not waiter.done():
                waiter.set_result(None)
                return

    async def send(self, channel: str, message: dict[str, Any]) -> None:
        assert isinstance(message, dict), "message is not a dict"
        self.require_valid_channel_name(channel)
        assert "__asgi_channel__" not in message
        if not self._put(channel, message):
            raise ChannelFull(channel)

    async def group_send(self, group: str, message: dict[str, Any]) -> None:
        assert isinstance(message, dict), "Message is not a dict"
        self.require_valid_group_name(group)
        assert "__asgi_channel__" not in message
        self._clean_expired()
        # An indication that was encoded holds JSON values only, without cycles.
        encoded = message.get("type") == events.INDICATION and "frame" in message
        copy = _json_copy if encoded else deepcopy
        # Names were checked when they joined; a copy each, as send() makes. A full
        # channel is skipped, as Channels does: the other members still get theirs.
        for channel in list(self.groups.get(group, ())):
            self._put(channel, message, copy)

    def _put(
        self, channel: str, message: dict[str, Any], copy: Callable[[Any], Any] = deepcopy
    ) -> bool:
        """Queue a copy of ``message`` on ``channel``; False when its queue is full."""
        queue = self._mailbox(channel)
        if queue is None:
            queue = _Mailbox(self.get_capacity(channel))
            self.channels[channel] = cast(Any, queue)
        if queue.full():
            return False
        queue.put_nowait((time.time() + self.expiry, copy(message)))
        self._wake(channel)
        return True

    def _mailbox(self, channel: str) -> _Mailbox | None:
        # Channels' stubs say asyncio.Queue: every entry here is made by _put.
        return cast("_Mailbox | None", self.channels.get(channel))

    def _clean_expired(self) -> None:
        now = time.monotonic()
        if now - self._last_sweep >= SWEEP_INTERVAL:
            self._last_sweep = now
            super()._clean_expired()  # type: ignore[misc]  # private in the stubs


def default_layer_backend() -> str | None:
    """The ``BACKEND`` of ``CHANNEL_LAYERS["default"]``; None when there is none."""
    layers = getattr(settings, "CHANNEL_LAYERS", None)
    if not isinstance(layers, Mapping):
        return None
    default = layers.get("default")
    if not isinstance(default, Mapping):
        return None
    backend = default.get("BACKEND")
    return backend if isinstance(backend, str) else None


def default_layer_is_in_memory() -> bool:
    """True when the default layer is an in-memory one: it never reaches another process."""
    return default_layer_backend() in IN_MEMORY_LAYERS

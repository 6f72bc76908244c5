"""One recovery per channel layer and process: wait out an outage, then restore every session.

A restarted Redis has forgotten every group. Until each session of this process has
re-added its groups, an indication sent from here would reach only some of them, so
:func:`appws.anotify` asks :meth:`Recovery.restoring` first and refuses to claim a
delivery it cannot make. While the layer is down one probe per :data:`PROBE_SECONDS`
asks whether it answers again, however many sessions wait; once it does, every
session's receive resumes and every session's groups are re-added at once.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from typing import Any, Protocol

from appws.layer.outage import is_layer_outage

logger = logging.getLogger("appws")

#: Seconds between two probes of a layer that is down: one cheap command per process.
PROBE_SECONDS = 0.1
#: Sessions re-adding their groups at the same time (a bounded redis-py pool may be full).
REJOIN_AT_ONCE = 32

# A group_discard of a channel in no group: a round trip that changes nothing.
_PROBE_GROUP = "appws.probe"
_PROBE_CHANNEL = "appws.probe"


class Member(Protocol):
    """A session's subscriptions, as the recovery sees them."""

    def __bool__(self) -> bool: ...  # whether it holds groups to restore

    async def rejoin(self) -> None: ...  # re-add every group it holds


class Recovery:
    """The outage state of one channel layer in this process, shared by all its sessions."""

    def __init__(self, layer: Any) -> None:
        self._layer = layer
        self._members: weakref.WeakSet[Member] = weakref.WeakSet()
        # Sessions whose groups the layer may have forgotten: not restored yet.
        self._pending: weakref.WeakSet[Member] = weakref.WeakSet()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._up: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._again = False  # an outage seen while a round was restoring

    def join(self, member: Member) -> None:
        """Count ``member`` among the sessions of this process (called on its loop)."""
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            # A new event loop (tests run one each): the old one's sessions are gone.
            self._members, self._pending = weakref.WeakSet(), weakref.WeakSet()
            self._loop, self._up, self._task = loop, None, None
        self._members.add(member)

    def leave(self, member: Member) -> None:
        """``member``'s session is over: nothing of it to restore."""
        self._members.discard(member)
        self._pending.discard(member)

    def restoring(self) -> bool:
        """Whether some session of this process has groups the layer may have lost."""
        return bool(self._pending)

    def outage(self, error: BaseException) -> None:
        """The layer failed (``error``): restore every session once it answers again.

        Safe from any thread; the recovery runs on the sessions' event loop.
        """
        # Pending at once, before anything is scheduled: a notify right after this
        # call must already refuse.
        self._pending.update(member for member in list(self._members) if member)
        loop = self._loop
        if loop is None or loop.is_closed():
            self._pending.clear()  # no session in this process: nothing to restore
            return
        try:
            here = asyncio.get_running_loop()
        except RuntimeError:
            here = None
        if here is loop:
            self._start(error)
        else:
            loop.call_soon_threadsafe(self._start, error)

    async def wait(self, error: BaseException) -> None:
        """Note the outage ``error``, then wait until the layer answers again."""
        self.outage(error)
        assert self._up is not None
        await self._up.wait()

    def _start(self, error: BaseException) -> None:
        task = self._task
        if task is not None and not task.done() and task.get_loop() is asyncio.get_running_loop():
            self._again = True
            if self._up is not None and self._up.is_set():
                self._up = asyncio.Event()  # down again: receivers wait for the next probe
            return
        self._up = asyncio.Event()
        self._again = False
        logger.warning(
            "channel layer unreachable (%s): %d session(s) of this process keep their "
            "sockets and rejoin their subscriptions when the layer is back",
            type(error).__name__,
            len(self._members),
        )
        self._task = asyncio.ensure_future(self._recover())

    async def _recover(self) -> None:
        while True:
            try:
                await self._layer.group_discard(_PROBE_GROUP, _PROBE_CHANNEL)
            except Exception as error:
                if is_layer_outage(error):
                    await asyncio.sleep(PROBE_SECONDS)  # one probe per interval, not per session
                    continue
                # It answered, if strangely: never leave the sessions waiting on it.
                logger.exception("probing the channel layer failed")
            assert self._up is not None
            self._up.set()
            self._again = False
            restored = await self._rejoin_pending()
            if self._again:
                continue  # it went down meanwhile: what was restored may be lost again
            if not self._pending:
                logger.info(
                    "channel layer back: %d session(s) of this process rejoined their "
                    "subscriptions",
                    restored,
                )
                return
            await asyncio.sleep(PROBE_SECONDS)

    async def _rejoin_pending(self) -> int:
        gate = asyncio.Semaphore(REJOIN_AT_ONCE)

        async def rejoin(member: Member) -> None:
            async with gate:
                await member.rejoin()

        members = list(self._pending)
        results = await asyncio.gather(*map(rejoin, members), return_exceptions=True)
        restored = 0
        for member, result in zip(members, results, strict=True):
            if isinstance(result, BaseException) and is_layer_outage(result):
                self._again = True  # stays pending; the next probe decides
                if self._up is not None and self._up.is_set():
                    self._up = asyncio.Event()
                continue
            if isinstance(result, BaseException):
                logger.error(
                    "a session's subscriptions could not be restored",
                    exc_info=(type(result), result, result.__traceback__),
                )
            else:
                restored += 1
            self._pending.discard(member)
        return restored


_recoveries: weakref.WeakKeyDictionary[Any, Recovery] = weakref.WeakKeyDictionary()


def recovery_for(layer: Any) -> Recovery:
    """The one :class:`Recovery` of ``layer`` in this process."""
    recovery = _recoveries.get(layer)
    if recovery is None:
        recovery = _recoveries[layer] = Recovery(layer)
    return recovery


def known_recovery(layer: Any) -> Recovery | None:
    """``layer``'s :class:`Recovery` if a session of this process uses it, else None."""
    return _recoveries.get(layer)

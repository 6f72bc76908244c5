"""Feed a consumer the events of its sources (the socket, its channel) through one queue.

One long-lived reader per source takes each event and hands it to that source's
intake, which decides at once what becomes of it: a reply to the session's own
request is delivered there and then; the rest goes into the session's
:class:`Inbox`, which one dispatching task empties in order, one item at a time.
An indication that finds the session idle (nothing queued, nothing running) is
dispatched by its reader at once, the dispatching task waiting for it: the same
order, one task switch fewer per indication and session.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from appws.server.fifo import Fifo

Source = Callable[[], Awaitable[Any]]


class Job:
    """Work for the dispatching task (a message for its handler, an answer to send)."""

    __slots__ = ("run",)

    def __init__(self, run: Callable[[], Awaitable[None]]) -> None:
        self.run = run


class _Waited:
    __slots__ = ("done", "item")

    def __init__(self, item: Any) -> None:
        self.item = item
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()


class _ReaderFailed:
    """An exception raised while waiting for events, on its way to the dispatcher."""

    __slots__ = ("error",)

    def __init__(self, error: BaseException) -> None:
        self.error = error


class Inbox:
    """The queue of one session's dispatching task: events and :class:`Job` items."""

    __slots__ = ("_dispatch", "_idle", "_queue", "_stand_in", "size")

    def __init__(self, size: int, dispatch: Callable[[Any], Awaitable[None]]) -> None:
        self.size = size
        self._queue: Fifo[Any] = Fifo(size)
        self._dispatch = dispatch
        # Set while a reader dispatches in the dispatcher's place (see put_or_run).
        self._stand_in: asyncio.Future[None] | None = None
        self._idle = False  # the dispatching task waits for the next item

    def offer(self, item: Any) -> bool:
        """Queue ``item`` if there is room; False when the queue is full."""
        return self._queue.offer(item)

    async def put(self, item: Any) -> None:
        """Queue ``item``, waiting for room (back-pressure on the source)."""
        await self._queue.put(item)

    async def put_and_wait(self, item: Any) -> None:
        """Queue ``item`` and return once it has been dispatched (one at a time, as before)."""
        waited = _Waited(item)
        await self._queue.put(waited)
        await waited.done

    async def put_or_run(self, event: Any) -> None:
        """Dispatch ``event`` here and now when nothing is queued or running; else queue it.

        The same order as :meth:`put`, one task switch fewer for an idle session.
        """
        if self._stand_in is not None or not self._queue.empty() or not self._idle:
            await self._queue.put(event)
            return
        self._stand_in = asyncio.get_running_loop().create_future()
        try:
            await self._dispatch(event)
        finally:
            stand_in, self._stand_in = self._stand_in, None
            stand_in.set_result(None)

    async def get(self) -> Any:
        self._idle = True
        try:
            item = await self._queue.get()
        finally:
            self._idle = False
        while self._stand_in is not None:  # a reader dispatches: after it, in order
            await asyncio.shield(self._stand_in)
        return item


Intake = Callable[[Any, Inbox], Awaitable[None]]


async def pump(
    sources: Sequence[tuple[Source, Intake]],
    dispatch: Callable[[Any], Awaitable[None]],
    size: int,
) -> None:
    """Read every source; dispatch what their intakes queue, one item at a time, in order.

    An event is dispatched with ``dispatch(event)``, a :class:`Job` by running it. A
    reader's exception (its source's, or its intake's) is raised here, in the
    dispatching task.
    """
    inbox = Inbox(size, dispatch)

    async def read(source: Source, intake: Intake) -> None:
        try:
            while True:
                await intake(await source(), inbox)
        except asyncio.CancelledError:
            raise
        except BaseException as error:  # hand it to the dispatching task
            await inbox.put(_ReaderFailed(error))

    readers = [asyncio.ensure_future(read(source, intake)) for source, intake in sources]
    try:
        while True:
            item = await inbox.get()
            if isinstance(item, _ReaderFailed):
                raise item.error
            waited = item if isinstance(item, _Waited) else None
            if waited is not None:
                item = waited.item
            try:
                await (item.run() if isinstance(item, Job) else dispatch(item))
            finally:
                if waited is not None and not waited.done.done():
                    waited.done.set_result(None)
            # Not kept while waiting for the next: an idle session would hold its last message.
            item = waited = None
    finally:
        for reader in readers:
            reader.cancel()
        await asyncio.gather(*readers, return_exceptions=True)

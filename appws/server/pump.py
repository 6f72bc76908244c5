"""Feed a consumer the events of its sources (the socket, its channel) one at a time."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

Source = Callable[[], Awaitable[Any]]


class _ReaderFailed:
    """An exception raised while waiting for events, on its way to the dispatcher."""

    __slots__ = ("error",)

    def __init__(self, error: BaseException) -> None:
        self.error = error


async def pump(sources: list[Source], dispatch: Callable[[Any], Awaitable[None]]) -> None:
    """Dispatch events from every source one at a time, in the order they come.

    One long-lived reader per source hands events over a one-slot queue: the
    same order and back-pressure as Channels' ``await_many_dispatch``, without a
    new task and an ``asyncio.wait()`` per event. A reader's exception is raised
    here, in the dispatching task.
    """
    handoff: asyncio.Queue[Any] = asyncio.Queue(maxsize=1)

    async def read(source: Source) -> None:
        try:
            while True:
                await handoff.put(await source())
        except asyncio.CancelledError:
            raise
        except BaseException as error:  # hand it to the dispatching task
            await handoff.put(_ReaderFailed(error))

    readers = [asyncio.ensure_future(read(source)) for source in sources]
    try:
        while True:
            event = await handoff.get()
            if isinstance(event, _ReaderFailed):
                raise event.error
            await dispatch(event)
    finally:
        for reader in readers:
            reader.cancel()
        await asyncio.gather(*readers, return_exceptions=True)

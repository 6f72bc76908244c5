"""Database writes of a replication, off its wire: one thread hop per batch, shielded.

:class:`InFlight` runs one synchronous store call at a time through
``database_sync_to_async`` and lets a call already started finish even when the
replication is cancelled (the PBX went away): a transaction is never left half
done by a reconnect, and the next copy never races the last one's write.
:class:`BatchWriter` writes the batches of one initial copy in order, in a task
of its own, while the copy goes on asking the PBX for rows; its queue is bounded,
so a slow database holds up the wire by one batch at most and memory stays bounded.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from channels.db import database_sync_to_async

from appws.pbx.users.rows import UserRow

__all__ = ["BatchWriter", "InFlight"]

T = TypeVar("T")


class InFlight:
    """Runs store calls in Django's database thread, one at a time, each completing."""

    def __init__(self) -> None:
        self._current: asyncio.Future[Any] | None = None

    async def run(self, call: Callable[..., T], *args: Any) -> T:
        """``call(*args)`` in the database thread; cancelling the caller does not stop it."""
        future = self._current = asyncio.ensure_future(database_sync_to_async(call)(*args))
        try:
            return await asyncio.shield(future)
        finally:
            if future.done() and self._current is future:
                self._current = None

    async def settle(self) -> None:
        """Wait until the call started last (if any) has returned."""
        if self._current is not None:
            await asyncio.wait([self._current])
            self._current = None


@dataclass
class _Batch:
    rows: list[UserRow]
    skipped: int


class BatchWriter:
    """Writes batches with ``write(rows, skipped)`` in order; ``depth`` more may wait."""

    def __init__(self, write: Callable[[list[UserRow], int], None], depth: int) -> None:
        self._write = write
        self._calls = InFlight()
        self._queue: asyncio.Queue[_Batch | None] = asyncio.Queue(maxsize=max(1, depth))
        self._task = asyncio.ensure_future(self._run())
        #: Rows written so far.
        self.written = 0

    async def _run(self) -> None:
        while (batch := await self._queue.get()) is not None:
            await self._calls.run(self._write, batch.rows, batch.skipped)
            self.written += len(batch.rows)

    async def put(self, rows: list[UserRow], skipped: int) -> None:
        """Queue a batch; wait while the queue is full. Raises what the writer failed with."""
        if rows or skipped:
            await self._enqueue(_Batch(rows, skipped))

    async def finish(self) -> None:
        """Return once every batch queued is written; raise what the writer failed with."""
        await self._enqueue(None)
        await self._task

    async def stop(self) -> None:
        """Stop writing: a batch already started completes, the ones waiting are dropped."""
        if not self._task.done():
            self._task.cancel()
            await asyncio.wait([self._task])
        await self._calls.settle()

    async def _enqueue(self, item: _Batch | None) -> None:
        if self._task.done():
            self._task.result()  # the writer failed: raise why
            raise RuntimeError("the writer has stopped")
        put = asyncio.ensure_future(self._queue.put(item))
        try:
            await asyncio.wait([put, self._task], return_when=asyncio.FIRST_COMPLETED)
        finally:
            if not put.done():
                put.cancel()
        if not put.done() or put.cancelled():
            self._task.result()
            raise RuntimeError("the writer has stopped")

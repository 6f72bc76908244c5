"""A bounded FIFO with one reading task: the part of ``asyncio.Queue`` a session's inbox uses.

Every logged-in session holds one for its whole life, mostly empty. An
``asyncio.Queue`` costs about 3 KiB (three deques, an ``Event`` with a fourth,
two dicts); this one holds a deque only while items wait and a future only
while its reader waits.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Generic, TypeVar

__all__ = ["Fifo"]

T = TypeVar("T")


class Fifo(Generic[T]):
    """At most ``size`` items, taken out in order by one task at a time."""

    __slots__ = ("_getter", "_items", "_putters", "size")

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: deque[T] | None = None  # None while empty: a deque is 600 bytes
        self._getter: asyncio.Future[None] | None = None  # the reader, while it waits
        self._putters: deque[asyncio.Future[None]] | None = None  # made when a put first waits

    def empty(self) -> bool:
        return not self._items

    def full(self) -> bool:
        return self._items is not None and len(self._items) >= self.size

    def offer(self, item: T) -> bool:
        """Append ``item`` if there is room; False, changing nothing, when full."""
        if self.full():
            return False
        if self._items is None:
            self._items = deque()
        self._items.append(item)
        getter = self._getter
        if getter is not None and not getter.done():
            getter.set_result(None)
        return True

    async def put(self, item: T) -> None:
        """Append ``item``, waiting for room; writers waiting for room go in turn."""
        while self.full():
            if self._putters is None:
                self._putters = deque()
            putter = asyncio.get_running_loop().create_future()
            self._putters.append(putter)
            try:
                await putter
            except BaseException:
                putter.cancel()
                if putter in self._putters:
                    self._putters.remove(putter)
                if not self.full() and not putter.cancelled():
                    self._wake_putter()  # woken but cancelled: the room goes to the next
                raise
        self.offer(item)

    async def get(self) -> T:
        """Take the oldest item, waiting for one (one reading task only)."""
        while not self._items:
            self._getter = getter = asyncio.get_running_loop().create_future()
            try:
                await getter
            finally:
                self._getter = None
        item = self._items.popleft()
        if not self._items:
            self._items = None
        self._wake_putter()
        return item

    def _wake_putter(self) -> None:
        putters = self._putters
        while putters:
            putter = putters.popleft()
            if not putter.done():
                putter.set_result(None)
                return

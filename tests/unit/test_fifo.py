"""The session inbox's FIFO: order, its bound, writers waiting for room in turn."""

from __future__ import annotations

import asyncio

import pytest

from appws.server.fifo import Fifo


async def test_items_come_out_in_order_and_offer_refuses_beyond_the_size() -> None:
    fifo: Fifo[int] = Fifo(2)
    assert fifo.empty()
    assert fifo.offer(1) and fifo.offer(2)
    assert fifo.full() and not fifo.offer(3)
    assert [await fifo.get(), await fifo.get()] == [1, 2]
    assert fifo.empty()


async def test_a_waiting_reader_gets_the_next_item() -> None:
    fifo: Fifo[str] = Fifo(1)
    reader = asyncio.ensure_future(fifo.get())
    await asyncio.sleep(0)
    assert not reader.done()
    fifo.offer("x")
    assert await reader == "x"


async def test_writers_wait_for_room_and_go_in_turn() -> None:
    fifo: Fifo[int] = Fifo(1)
    fifo.offer(0)
    writers = [asyncio.ensure_future(fifo.put(n)) for n in (1, 2)]
    await asyncio.sleep(0)
    assert not any(w.done() for w in writers)
    assert [await fifo.get() for _ in range(3)] == [0, 1, 2]
    await asyncio.gather(*writers)


async def test_a_cancelled_writer_leaves_its_room_to_the_next() -> None:
    fifo: Fifo[int] = Fifo(1)
    fifo.offer(0)
    first = asyncio.ensure_future(fifo.put(1))
    second = asyncio.ensure_future(fifo.put(2))
    await asyncio.sleep(0)
    assert await fifo.get() == 0  # wakes the first writer...
    first.cancel()  # ...which is cancelled before it runs
    with pytest.raises(asyncio.CancelledError):
        await first
    assert await fifo.get() == 2
    await second


async def test_a_cancelled_reader_loses_no_item() -> None:
    fifo: Fifo[int] = Fifo(2)
    reader = asyncio.ensure_future(fifo.get())
    await asyncio.sleep(0)
    reader.cancel()
    with pytest.raises(asyncio.CancelledError):
        await reader
    fifo.offer(7)
    assert await fifo.get() == 7

"""The pump: one item at a time, in order; an event finding the session idle runs at once."""

from __future__ import annotations

import asyncio
import gc
import weakref
from typing import Any

from appws.server.pump import Inbox, pump


class Run:
    """A pump over two sources (``a`` puts or runs, ``b`` queues), recording dispatches."""

    def __init__(self) -> None:
        self.a: asyncio.Queue[Any] = asyncio.Queue()
        self.b: asyncio.Queue[Any] = asyncio.Queue()
        self.log: list[tuple[str, str]] = []  # (item, "reader" or "dispatcher")
        self.gates: dict[str, asyncio.Event] = {}
        self.readers: set[asyncio.Task[Any] | None] = set()

    async def dispatch(self, item: str) -> None:
        task = asyncio.current_task()
        self.log.append((item, "reader" if task in self.readers else "dispatcher"))
        if item in self.gates:
            await self.gates[item].wait()

    async def run_or_put(self, item: str, inbox: Inbox) -> None:
        self.readers.add(asyncio.current_task())
        await inbox.put_or_run(item)

    async def put(self, item: str, inbox: Inbox) -> None:
        await inbox.put(item)

    def start(self) -> asyncio.Task[None]:
        sources = [(self.a.get, self.run_or_put), (self.b.get, self.put)]
        return asyncio.ensure_future(pump(sources, self.dispatch, 10))

    async def settle(self) -> None:
        for _ in range(20):
            await asyncio.sleep(0)


async def stop(task: asyncio.Task[None]) -> None:
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def test_an_event_for_an_idle_session_is_dispatched_by_its_reader():
    run = Run()
    task = run.start()
    await run.settle()
    run.a.put_nowait("indication")
    await run.settle()
    assert run.log == [("indication", "reader")]
    await stop(task)


async def test_what_arrives_meanwhile_waits_for_it_in_order():
    run = Run()
    run.gates["indication"] = asyncio.Event()
    task = run.start()
    await run.settle()
    run.a.put_nowait("indication")
    await run.settle()
    run.b.put_nowait("frame")  # arrives while the reader still sends the indication
    await run.settle()
    assert run.log == [("indication", "reader")]
    run.gates["indication"].set()
    await run.settle()
    assert run.log == [("indication", "reader"), ("frame", "dispatcher")]
    await stop(task)


async def test_an_event_for_a_busy_session_waits_its_turn_in_the_queue():
    run = Run()
    run.gates["frame"] = asyncio.Event()
    task = run.start()
    await run.settle()
    run.b.put_nowait("frame")  # a handler that takes a while
    await run.settle()
    run.a.put_nowait("indication")
    await run.settle()
    assert run.log == [("frame", "dispatcher")]
    run.gates["frame"].set()
    await run.settle()
    assert run.log == [("frame", "dispatcher"), ("indication", "dispatcher")]
    await stop(task)


async def test_a_failure_of_a_dispatch_in_the_reader_ends_the_pump():
    run = Run()

    async def failing(item: str) -> None:
        raise RuntimeError(item)

    sources = [(run.a.get, run.run_or_put)]
    task = asyncio.ensure_future(pump(sources, failing, 10))
    await run.settle()
    run.a.put_nowait("indication")
    results = await asyncio.gather(task, return_exceptions=True)
    assert isinstance(results[0], RuntimeError) and str(results[0]) == "indication"


class Message:
    """An item that can be watched for being freed."""


async def test_an_idle_pump_keeps_no_reference_to_the_last_item():
    dispatched: list[Message] = []

    async def dispatch(item: Message) -> None:
        dispatched.append(item)

    queue: asyncio.Queue[Message] = asyncio.Queue()

    async def put(item: Message, inbox: Inbox) -> None:
        await inbox.put(item)

    task = asyncio.ensure_future(pump([(queue.get, put)], dispatch, 10))
    message = Message()
    watch = weakref.ref(message)
    queue.put_nowait(message)
    del message
    for _ in range(20):
        await asyncio.sleep(0)
    assert len(dispatched) == 1
    dispatched.clear()
    gc.collect()
    assert watch() is None  # the dispatcher waits for the next item holding nothing
    await stop(task)

"""A PBX, played by the test over the communicator, for a service replicating its users;
and a store in memory that records every call the replicator makes, in order."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Sequence
from typing import Any

from channels.routing import URLRouter
from django.db import DatabaseError

from appws.pbx.users.rows import UserRow
from appws.pbx.users.store import ReplicaKey, SweepOutcome
from appws.server.routing import service_urls
from appws.testing import AppwsCommunicator
from tests.pbx_peer import PBX_INFO, Pbx
from tests.services import ReplicatingService

API = "PbxTableUsers"


class FakeStore:
    """The store functions (``appws.pbx.users.store``) in memory; ``calls`` in order.

    ``block_writes`` makes every ``write_copy_rows`` wait for ``release`` (a thread
    event: the store runs in Django's database thread) after setting ``writing``.
    """

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self.rows: dict[str, UserRow] = {}
        self.generation = 0
        self.block_writes = False
        self.writing = threading.Event()
        self.release = threading.Event()
        self.changed = asyncio.Event()
        self._loop = asyncio.get_running_loop()
        #: name -> how many of the next calls of that name raise DatabaseError.
        self.failing: dict[str, int] = {}

    def _maybe_fail(self, name: str) -> None:
        if self.failing.get(name, 0) > 0:
            self.failing[name] -= 1
            self._note(f"{name} failed")
            raise DatabaseError(f"{name}: the database is down")

    def _note(self, *call: Any) -> None:
        self.calls.append(call)
        self._loop.call_soon_threadsafe(self.changed.set)

    def names(self) -> list[str]:
        return [call[0] for call in self.calls]

    async def wait_for(self, name: str, count: int = 1, timeout: float = 2) -> None:
        """Return once ``name`` was called ``count`` times."""
        await self.wait_until(lambda: self.names().count(name) >= count, timeout)

    async def wait_until(self, done: Callable[[], bool], timeout: float = 2) -> None:
        """Return once ``done()`` is true (checked after each call)."""

        async def until() -> None:
            while not done():
                self.changed.clear()
                await self.changed.wait()

        await asyncio.wait_for(until(), timeout)

    def skipped(self) -> int:
        return sum(call[1] for call in self.calls if call[0] == "note_skipped")

    def begin_copy(self, key: ReplicaKey, app: str) -> int:
        self._maybe_fail("begin_copy")
        self.generation += 1
        self._note("begin_copy", key, app, self.generation)
        return self.generation

    def write_copy_rows(self, key: ReplicaKey, generation: int, rows: Sequence[UserRow]) -> None:
        if self.block_writes:
            self.writing.set()
            assert self.release.wait(5), "the test did not release the write"
        self._maybe_fail("write_copy_rows")
        self.rows.update({row.guid: row for row in rows})
        self._note("write_copy_rows", generation, [row.h323 for row in rows])

    def finish_copy(self, key: ReplicaKey, generation: int) -> SweepOutcome:
        self._note("finish_copy", generation)
        return SweepOutcome(deleted=0, held=False)

    def apply_rows(self, key: ReplicaKey, rows: Sequence[UserRow]) -> None:
        self._maybe_fail("apply_rows")
        self.rows.update({row.guid: row for row in rows})
        self._note("apply_rows", [(row.h323, row.cn) for row in rows])

    def delete_rows(self, key: ReplicaKey, guids: Sequence[str]) -> None:
        for guid in guids:
            self.rows.pop(guid, None)
        self._note("delete_rows", list(guids))

    def note_skipped(self, key: ReplicaKey, count: int) -> None:
        self._note("note_skipped", count)

    def set_running(
        self, key: ReplicaKey, running: bool, app: str | None = None, *, begun: int | None = None
    ) -> int:
        self._note("set_running", key, running)
        return self.generation


users_application = URLRouter(service_urls(ReplicatingService))


async def replicating_pbx(apis: Sequence[str] = (API, "PbxApi")) -> Pbx:
    """Log in to :class:`ReplicatingService` as its PBX and send ``PbxInfo``."""
    comm = AppwsCommunicator(users_application, "/apps/pbxapp")
    result = await comm.login(
        "pbxapp", "pwd", domain="example.com", sip="pbx-obj", info={"appobj": "pbx-obj"}
    )
    assert result["ok"] is True, result
    await comm.send_json_to({**PBX_INFO, "apis": list(apis)})
    return Pbx(comm)


async def serve_copy(pbx: Pbx, rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Answer ReplicateStart, then each ReplicateNext with the next of ``rows``, then the end.

    Returns the ReplicateStart the service sent.
    """
    start = await pbx.receive()
    assert start["mt"] == "ReplicateStart", start
    await pbx.answer(start, columns={name: {} for name in start["columns"]})
    for row in [*rows, None]:
        request = await pbx.receive()
        assert request["mt"] == "ReplicateNext", request
        await pbx.answer(request, **({} if row is None else {"columns": row}))
    return start


class RecordingStore(FakeStore):
    """The real store (``appws.pbx.users.store``), each call recorded after it returned."""

    def __init__(self) -> None:
        super().__init__()
        from appws.pbx.users import store

        self.real = store

    def begin_copy(self, key: ReplicaKey, app: str) -> int:
        generation = self.real.begin_copy(key, app)
        self._note("begin_copy", key, app, generation)
        return generation

    def write_copy_rows(self, key: ReplicaKey, generation: int, rows: Sequence[UserRow]) -> None:
        self.real.write_copy_rows(key, generation, rows)
        self._note("write_copy_rows", generation, [row.h323 for row in rows])

    def finish_copy(self, key: ReplicaKey, generation: int) -> SweepOutcome:
        outcome = self.real.finish_copy(key, generation)
        self._note("finish_copy", generation)
        return outcome

    def apply_rows(self, key: ReplicaKey, rows: Sequence[UserRow]) -> None:
        self.real.apply_rows(key, rows)
        self._note("apply_rows", [(row.h323, row.cn) for row in rows])

    def delete_rows(self, key: ReplicaKey, guids: Sequence[str]) -> None:
        self.real.delete_rows(key, guids)
        self._note("delete_rows", list(guids))

    def note_skipped(self, key: ReplicaKey, count: int) -> None:
        self.real.note_skipped(key, count)
        self._note("note_skipped", count)

    def set_running(
        self, key: ReplicaKey, running: bool, app: str | None = None, *, begun: int | None = None
    ) -> int:
        latest = self.real.set_running(key, running, app, begun=begun)
        self._note("set_running", key, running)
        return latest

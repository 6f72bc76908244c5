"""One replication of a PBX's user table on one PBX session (PROTOCOL of ``PbxTableUsers``).

:meth:`Replication.run` is a task of the session: it listens for the live changes
first (so none is missed), then runs the initial copy, ``ReplicateStart`` and one
``ReplicateNext`` per row until a result without ``columns``, handing the rows to a
:class:`~appws.pbx.users.writer.BatchWriter` in batches while it asks for the next
ones. Once the copy is written and finished (the store sweeps what it did not
contain), the live changes are applied, those that came during the copy first, in
the order they came. An error result or no answer stops the replication (nothing is
swept) and leaves the session alone; the next connection of the PBX starts afresh.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from appws.exceptions import PeerError, PeerTimeout, SessionEnded
from appws.pbx.users.intake import RowIntake
from appws.pbx.users.live import LIVE_MTS, MAX_WAITING, Change, LiveQueue, changes
from appws.pbx.users.rows import UserRow
from appws.pbx.users.store import ReplicaKey, SweepOutcome
from appws.pbx.users.writer import BatchWriter, InFlight
from appws.server.features import PeerSession

__all__ = ["API", "PSEUDO", "RETRY_DELAYS", "Limits", "Replication", "Store"]

logger = logging.getLogger("appws.pbx.users")

API = "PbxTableUsers"
#: The object kinds asked for: plain users, and executives (users with an assistant),
#: who are people with a phone too; each row's own ``pseudo`` column tells them apart.
PSEUDO = ("", "executive")
#: Seconds to wait before copying afresh after the n-th failure of the store in a row
#: (the last one from then on): a database that is down is not hammered.
RETRY_DELAYS = (1.0, 5.0, 15.0, 60.0)


class Store(Protocol):
    """Where the rows go: :mod:`appws.pbx.users.store` (synchronous functions)."""

    def begin_copy(self, key: ReplicaKey, app: str) -> int: ...

    def write_copy_rows(
        self, key: ReplicaKey, generation: int, rows: Sequence[UserRow]
    ) -> None: ...

    def finish_copy(self, key: ReplicaKey, generation: int) -> SweepOutcome: ...

    def apply_rows(self, key: ReplicaKey, rows: Sequence[UserRow]) -> None: ...

    def delete_rows(self, key: ReplicaKey, guids: Sequence[str]) -> None: ...

    def note_skipped(self, key: ReplicaKey, count: int) -> None: ...

    def set_running(
        self, key: ReplicaKey, running: bool, app: str | None = None, *, begun: int | None = None
    ) -> int: ...


@dataclass(frozen=True)
class Limits:
    """Sizes of a replication: rows per transaction, batches waiting, bytes per row, and
    users with a live change waiting before it copies afresh, pauses after store failures."""

    batch_rows: int
    queued_batches: int
    max_row_bytes: int
    live_waiting: int = MAX_WAITING
    retry_delays: tuple[float, ...] = RETRY_DELAYS


class Replication:
    """The replication of ``key``'s users over ``conn``, asking for ``columns``."""

    def __init__(
        self,
        conn: PeerSession,
        key: ReplicaKey,
        app: str,
        columns: Sequence[str],
        store: Store,
        limits: Limits,
    ) -> None:
        self.conn = conn
        self.key = key
        self.app = app
        self.columns = tuple(columns)
        self.store = store
        self.limits = limits
        self._name = f"{key.domain}/{key.pbx}"
        self._intake = RowIntake(self._name, limits.max_row_bytes)
        self._calls = InFlight()
        #: The latest copy this session began (or saw begun when it started).
        self._begun: int | None = None
        #: Whether the current attempt completed a copy (a failure after it starts anew).
        self._copied = False

    async def run(self) -> None:
        """Copy, then apply live changes until cancelled (the PBX went away)."""
        live = LiveQueue(self.limits.live_waiting)
        listener = self.conn.listen_peer(API, LIVE_MTS, live.push)
        failures = 0
        try:
            while True:
                try:
                    await self._replicate(live)
                    return  # the PBX refused or did not answer: stopped, logged
                except SessionEnded:
                    raise
                except Exception:
                    failures = 0 if self._copied else failures
                    delays = self.limits.retry_delays
                    delay = delays[min(failures, len(delays) - 1)]
                    failures += 1
                    logger.exception(
                        "PBX %r: writing its users failed; copying them afresh in %g s",
                        self._name,
                        delay,
                    )
                    await self._calls.settle()
                    await asyncio.sleep(delay)
                    live.restart()
        except SessionEnded:
            pass  # the session's end stops it, as the PBX going away does
        finally:
            listener.close()
            await self._calls.settle()
            await self._calls.run(self._stopped)

    async def _replicate(self, live: LiveQueue) -> None:
        """Copy and follow, copying afresh whenever the live queue overflowed."""
        self._copied = False
        self._begun = await self._calls.run(self.store.set_running, self.key, True, self.app)
        while await self._copy():
            self._copied = True
            await self._follow(live)
            # More users changed than the queue holds: copy afresh (and sweep).
            logger.warning(
                "PBX %r: more than %d users changed before their changes were written: "
                "copying its users afresh",
                self._name,
                live.limit,
            )
            live.restart()

    def _stopped(self) -> int:
        return self.store.set_running(self.key, False, self.app, begun=self._begun)

    async def _copy(self) -> bool:
        """The initial copy; whether it completed (and was finished)."""
        generation = await self._calls.run(self.store.begin_copy, self.key, self.app)
        self._begun = generation
        writer = BatchWriter(self._writer_call(generation), self.limits.queued_batches)
        try:
            skipped = await self._receive(writer)
            if skipped is None:
                return False
            await writer.finish()
        finally:
            await writer.stop()
        outcome = await self._calls.run(self.store.finish_copy, self.key, generation)
        logger.info(
            "PBX %r: initial copy %d of its users done: %d rows, %d skipped, %d deleted",
            self._name,
            generation,
            writer.written,
            skipped,
            outcome.deleted,
        )
        return True

    async def _receive(self, writer: BatchWriter) -> int | None:
        """Ask for every row, handing batches to ``writer``; the rows skipped, None on error."""
        start = {
            "mt": "ReplicateStart",
            "add": False,
            "del": False,
            "columns": {name: {} for name in self.columns},
            "pseudo": list(PSEUDO),
        }
        skipped, batch = 0, []
        try:
            await self.conn.request(start, api=API)
            while True:
                reply = await self.conn.request({"mt": "ReplicateNext"}, api=API)
                if reply.get("columns") is None:
                    break  # no columns: the initial copy is complete
                row = self._intake.row(reply["columns"])
                if row is not None:
                    batch.append(row)
                if len(batch) >= self.limits.batch_rows:
                    skipped += self._intake.skipped
                    await writer.put(batch, self._intake.take_skipped())
                    batch = []
        except (PeerError, PeerTimeout) as error:
            logger.warning(
                "PBX %r: the initial copy of its users stopped, nothing is deleted; "
                "it runs again when the PBX reconnects: %s %r",
                self._name,
                type(error).__name__,
                str(error),
            )
            return None
        skipped += self._intake.skipped
        await writer.put(batch, self._intake.take_skipped())
        return skipped

    def _writer_call(self, generation: int) -> Callable[[list[UserRow], int], None]:
        store, key = self.store, self.key

        def write(rows: list[UserRow], skipped: int) -> None:
            if rows:
                store.write_copy_rows(key, generation, rows)
            if skipped:
                store.note_skipped(key, skipped)

        return write

    async def _follow(self, live: LiveQueue) -> None:
        """Apply live changes as they come, those waiting together, until the queue
        overflowed."""
        store, key = self.store, self.key

        def apply(runs: list[Change], skipped: int) -> None:
            for change in runs:
                if change.upserts:
                    store.apply_rows(key, list(change.upserts.values()))
                else:
                    store.delete_rows(key, change.deletes)
            if skipped:
                store.note_skipped(key, skipped)

        while True:
            messages = await live.take(self.limits.batch_rows)
            if live.overflowed:
                return
            runs = changes(messages, self._intake)
            await self._calls.run(apply, runs, self._intake.take_skipped())

"""Live changes of a replication (ReplicateAdd/Update/Del), kept in arrival order.

The session's reader hands each message to :meth:`LiveQueue.push` (it must not
block); the replication takes what waits in one go once its initial copy is
written, and turns it into :class:`Change` runs: consecutive adds and updates are
one upsert, consecutive deletes one delete, so the order of the PBX is kept while
many changes cost few transactions.

Every live message carries the whole row (or, to delete it, its ``guid``), so only
the last one waiting for a user matters: the queue keeps one per ``guid``, and holds
at most one message per user of the PBX. Beyond ``limit`` users waiting it keeps
nothing and says :attr:`LiveQueue.overflowed`: a fresh initial copy then brings the
replica up to date (its sweep included), in bounded memory.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from appws.pbx.users.intake import RowIntake
from appws.pbx.users.rows import UserRow

__all__ = ["LIVE_MTS", "MAX_WAITING", "Change", "LiveQueue", "changes"]

#: The live messages of ``PbxTableUsers``.
LIVE_MTS = ("ReplicateAdd", "ReplicateUpdate", "ReplicateDel")


#: Users with a live change waiting, at most, before the replication copies afresh.
MAX_WAITING = 100_000


class LiveQueue:
    """The live messages not yet applied, the last one per user, oldest first."""

    def __init__(self, limit: int = MAX_WAITING) -> None:
        self.limit = limit
        # Insertion-ordered: a user's newer message moves it to the end.
        self._messages: dict[object, dict[str, Any]] = {}
        self._keys = itertools.count()  # for messages without a usable guid
        self._ready = asyncio.Event()
        #: More than ``limit`` users waited: what waited was dropped, copy afresh.
        self.overflowed = False

    def push(self, message: dict[str, Any]) -> None:
        """Keep ``message`` (called in the session's reader)."""
        columns = message.get("columns")
        guid = columns.get("guid") if isinstance(columns, dict) else None
        key: object = guid.lower() if isinstance(guid, str) else next(self._keys)
        if self._messages.pop(key, None) is None and len(self._messages) >= self.limit:
            self._messages.clear()
            self.overflowed = True
        self._messages[key] = message
        self._ready.set()

    def __len__(self) -> int:
        return len(self._messages)

    def restart(self) -> None:
        """A fresh copy starts: what waits is older than it, and dropped."""
        self._messages.clear()
        self.overflowed = False

    async def take(self, limit: int) -> list[dict[str, Any]]:
        """Wait for a message; return it and those waiting behind it, ``limit`` at most.

        Returns nothing at once when the queue :attr:`overflowed`.
        """
        while not self._messages and not self.overflowed:
            self._ready.clear()
            await self._ready.wait()
        if self.overflowed:
            return []
        taken = list(itertools.islice(self._messages, max(1, limit)))
        return [self._messages.pop(key) for key in taken]


@dataclass
class Change:
    """Rows to upsert, or guids to delete (exactly one of them is non-empty)."""

    upserts: dict[str, UserRow] = field(default_factory=dict)
    deletes: list[str] = field(default_factory=list)


def changes(messages: Iterable[dict[str, Any]], intake: RowIntake) -> list[Change]:
    """``messages`` as runs of upserts and deletes, in order; bad rows skipped."""
    out: list[Change] = []
    for message in messages:
        columns = message.get("columns")
        if message.get("mt") == "ReplicateDel":
            guid = intake.guid(columns)
            if guid is None:
                continue
            if not out or out[-1].upserts:
                out.append(Change())
            out[-1].deletes.append(guid)
            continue
        row = intake.row(columns)
        if row is None:
            continue
        if not out or out[-1].deletes:
            out.append(Change())
        # An update of a row added or updated just before in the same run replaces it.
        out[-1].upserts.pop(row.guid, None)
        out[-1].upserts[row.guid] = row
    return out

"""Live changes of a replication (ReplicateAdd/Update/Del), kept in arrival order.

The session's reader hands each message to :meth:`LiveQueue.push` (it must not
block); the replication takes what waits in one go once its initial copy is
written, and turns it into :class:`Change` runs: consecutive adds and updates are
one upsert, consecutive deletes one delete, so the order of the PBX is kept while
many changes cost few transactions.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from appws.pbx.users.intake import RowIntake
from appws.pbx.users.rows import UserRow

__all__ = ["LIVE_MTS", "Change", "LiveQueue", "changes"]

#: The live messages of ``PbxTableUsers``.
LIVE_MTS = ("ReplicateAdd", "ReplicateUpdate", "ReplicateDel")


class LiveQueue:
    """The live messages not yet applied, oldest first."""

    def __init__(self) -> None:
        self._messages: deque[dict[str, Any]] = deque()
        self._ready = asyncio.Event()

    def push(self, message: dict[str, Any]) -> None:
        """Keep ``message`` (called in the session's reader)."""
        self._messages.append(message)
        self._ready.set()

    def __len__(self) -> int:
        return len(self._messages)

    async def take(self, limit: int) -> list[dict[str, Any]]:
        """Wait for a message; return it and those waiting behind it, ``limit`` at most."""
        while not self._messages:
            self._ready.clear()
            await self._ready.wait()
        count = min(max(1, limit), len(self._messages))
        return [self._messages.popleft() for _ in range(count)]


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

"""``PbxTableUsers``: the initial copy through ReplicateStart/Next, then live updates."""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from appws.testing.fakepbx.wire import Wire

__all__ = ["UsersTable", "new_user"]

API = "PbxTableUsers"
#: The columns a real PBX says it has in ReplicateStartResult.
COLUMNS = (
    "guid", "h323", "pwd", "cn", "dn", "e164", "node", "loc", "hide",
    "emails", "grps", "apps", "devices", "pseudo",
)  # fmt: skip


def new_user(h323: str, **columns: Any) -> dict[str, Any]:
    """A user row as a PBX replicates it, ``pwd`` included (services must never keep it)."""
    row: dict[str, Any] = {
        "guid": secrets.token_hex(16),
        "h323": h323,
        "pwd": secrets.token_hex(16),
        "cn": h323.title(),
        "dn": h323.title(),
        "e164": "",
        "node": "root",
        "loc": "",
        "hide": False,
        "emails": [],
        "grps": [],
        "apps": "",
    }
    row.update(columns)
    return row


@dataclass
class _Replication:
    start_src: Any
    pending: list[dict[str, Any]]
    last_src: Any = None
    done: bool = False


@dataclass
class UsersTable:
    """The users, keyed by ``guid``, and the replications the service runs on them."""

    rows: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: Rows served in the initial copy as given, after the users: malformed ones.
    raw_rows: list[dict[str, Any]] = field(default_factory=list)
    #: Fault: drop the connection after this many rows of an initial copy (once).
    drop_after: int | None = None
    #: ``src`` of live messages: ``"start"`` (ReplicateStart's, as real PBXs do),
    #: ``"next"`` (the last ReplicateNext's) or a literal value.
    live_src: Any = "start"
    replications: list[_Replication] = field(default_factory=list)
    sent_rows: int = 0

    def load(self, rows: Iterable[Mapping[str, Any]]) -> None:
        for row in rows:
            self.rows[row["guid"]] = dict(row)

    def reset(self) -> None:
        """A new connection: the service replicates afresh."""
        self.replications.clear()
        self.sent_rows = 0

    async def serve(self, wire: Wire, msg: dict[str, Any]) -> bool:
        mt = msg.get("mt")
        if mt == "ReplicateStart":
            problem = _start_problem(msg)
            if problem is not None:
                await wire.reply(msg, {"error": "bad-request", "errorText": problem})
                return True
            # Only the object kinds asked for (a row without "pseudo" is a plain user).
            kinds = set(msg.get("pseudo", [""]))
            rows = [dict(row) for row in self.rows.values() if row.get("pseudo", "") in kinds]
            rows += [dict(r) for r in self.raw_rows]
            self.replications.append(_Replication(msg.get("src"), rows))
            await wire.reply(msg, {"columns": {name: {} for name in COLUMNS}})
            return True
        if mt == "ReplicateNext":
            await self._next(wire, msg)
            return True
        return False

    async def _next(self, wire: Wire, msg: dict[str, Any]) -> None:
        replication = next((r for r in reversed(self.replications) if not r.done), None)
        if replication is None:
            await wire.reply(msg, {"error": "no-replication", "errorText": "send ReplicateStart"})
            return
        replication.last_src = msg.get("src")
        if not replication.pending:
            replication.done = True
            await wire.reply(msg, {})
            return
        await wire.reply(msg, {"columns": replication.pending.pop(0)})
        self.sent_rows += 1
        if self.drop_after is not None and self.sent_rows >= self.drop_after:
            self.drop_after = None
            await wire.drop()

    async def push(self, wire: Wire, mt: str, columns: Mapping[str, Any]) -> None:
        """Send a live ``Replicate…`` message to every replication of this connection."""
        for replication in self.replications:
            if self.live_src == "start":
                src = replication.start_src
            elif self.live_src == "next":
                src = replication.last_src
            else:
                src = self.live_src
            message: dict[str, Any] = {"api": API, "mt": mt, "columns": dict(columns)}
            if src is not None:
                message["src"] = src
            await wire.send(message)


def _start_problem(msg: Mapping[str, Any]) -> str | None:
    """Why a real PBX would refuse this ``ReplicateStart``; None when it is fine."""
    columns = msg.get("columns")
    if not isinstance(columns, dict) or not all(isinstance(v, dict) for v in columns.values()):
        return 'columns must be an object of column name: {} (or {"update": true})'
    pseudo = msg.get("pseudo", [""])
    if not isinstance(pseudo, list) or not all(isinstance(kind, str) for kind in pseudo):
        return 'pseudo must be a list of object kinds ("" for users)'
    for flag in ("add", "del"):
        if not isinstance(msg.get(flag, False), bool):
            return f"{flag} must be true or false"
    return None

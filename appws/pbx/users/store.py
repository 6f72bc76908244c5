"""Where replicated users are written: one PBX's replica, its copies and its sweeps.

Synchronous (call through ``database_sync_to_async``). A PBX is identified by its
domain and name (:class:`ReplicaKey`); each initial copy carries a new generation.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from appws.pbx.users.rows import UserRow

__all__ = [
    "ReplicaKey",
    "SweepOutcome",
    "apply_rows",
    "begin_copy",
    "delete_rows",
    "finish_copy",
    "note_skipped",
    "set_running",
    "write_copy_rows",
]


@dataclass(frozen=True)
class ReplicaKey:
    """Which PBX's users: its domain and its name (``PbxInfo``)."""

    domain: str
    pbx: str


@dataclass(frozen=True)
class SweepOutcome:
    """What finishing a copy did: rows deleted, or the sweep held (too many to delete)."""

    deleted: int
    held: bool
    would_delete: int = 0


def begin_copy(key: ReplicaKey, app: str) -> int:
    """A new initial copy of ``key``'s users starts (for App ``app``); return its generation."""
    raise NotImplementedError


def write_copy_rows(key: ReplicaKey, generation: int, rows: Sequence[UserRow]) -> None:
    """Upsert rows of the initial copy ``generation``, marking them; one transaction."""
    raise NotImplementedError


def finish_copy(key: ReplicaKey, generation: int) -> SweepOutcome:
    """Copy ``generation`` completed: sweep the rows it did not contain (if it may)."""
    raise NotImplementedError


def apply_rows(key: ReplicaKey, rows: Sequence[UserRow]) -> None:
    """Live ReplicateAdd/ReplicateUpdate rows: upsert them; one transaction."""
    raise NotImplementedError


def delete_rows(key: ReplicaKey, guids: Sequence[str]) -> None:
    """Live ReplicateDel: delete these users of ``key``; one transaction."""
    raise NotImplementedError


def note_skipped(key: ReplicaKey, count: int) -> None:
    """Count ``count`` more rows skipped as bad in ``key``'s replication state."""
    raise NotImplementedError


def set_running(key: ReplicaKey, running: bool) -> None:
    """Say in the replication state whether a session replicates ``key`` now."""
    raise NotImplementedError

"""Where replicated users are written: one PBX's replica, its copies and its sweeps.

Synchronous (call through ``database_sync_to_async``). A PBX is identified by its
domain and name (:class:`ReplicaKey`); each initial copy carries a new generation.
Every function is one transaction; ``pbx_user_changed`` is sent after it commits.

Mark and sweep: each row written carries the newest generation that held it (a live
change: the latest begun). When copy ``g`` completes, and no newer copy completed
before it, the rows marked below ``g`` were not in it and are deleted, unless they
are more than ``PBX_USERS_SWEEP_LIMIT`` of the replica's rows: then the sweep is held
until :func:`confirm_sweep`. A copy that never completes never sweeps.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial

from django.db import transaction
from django.db.models import F, QuerySet
from django.utils import timezone

from appws.conf import get_settings
from appws.models import PbxReplica, PbxUser
from appws.pbx.users import mapping
from appws.pbx.users.rows import UserRow
from appws.pbx.users.signals import pbx_user_changed
from appws.pbx.users.upsert import upsert

__all__ = [
    "NoHeldSweep",
    "ReplicaKey",
    "SweepOutcome",
    "apply_rows",
    "begin_copy",
    "confirm_sweep",
    "delete_rows",
    "finish_copy",
    "note_skipped",
    "set_running",
    "write_copy_rows",
]

logger = logging.getLogger("appws.pbx.users")


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


class NoHeldSweep(LookupError):
    """:func:`confirm_sweep` found no sweep held for that PBX."""


#: The fields finishing a copy and confirming a sweep change (the counts are kept apart).
_STATE = ["completed_generation", "copy_done", "held_sweep", "held_generation", "held_at"]


def _replica(key: ReplicaKey, app: str | None = None) -> PbxReplica:
    """``key``'s row, made if new, locked for the rest of the transaction."""
    replica, _ = PbxReplica.objects.get_or_create(
        domain=key.domain, pbx=key.pbx, defaults={"app_name": app or ""}
    )
    return PbxReplica.objects.select_for_update().get(pk=replica.pk)


def begin_copy(key: ReplicaKey, app: str) -> int:
    """A new initial copy of ``key``'s users starts (for App ``app``); return its generation."""
    with transaction.atomic():
        replica = _replica(key, app)
        replica.generation += 1
        replica.app_name = app
        replica.running = True
        replica.copy_done = False
        replica.save(update_fields=["generation", "app_name", "running", "copy_done"])
        return replica.generation


def write_copy_rows(key: ReplicaKey, generation: int, rows: Sequence[UserRow]) -> None:
    """Upsert rows of the initial copy ``generation``, marking them; one transaction."""
    with transaction.atomic():
        replica = _replica(key)
        _check_begun(replica, generation)
        _write(replica, rows, generation)


def apply_rows(key: ReplicaKey, rows: Sequence[UserRow]) -> None:
    """Live ReplicateAdd/ReplicateUpdate rows: upsert them; one transaction."""
    with transaction.atomic():
        replica = _replica(key)
        # The latest copy begun: a copy running now must not sweep a user added meanwhile.
        _write(replica, rows, replica.generation)


def delete_rows(key: ReplicaKey, guids: Sequence[str]) -> None:
    """Live ReplicateDel: delete these users of ``key``; one transaction."""
    wanted = {guid.lower() for guid in guids}
    with transaction.atomic():
        replica = _replica(key)
        _delete(replica, PbxUser.objects.filter(replica=replica, guid__in=wanted))


def finish_copy(key: ReplicaKey, generation: int) -> SweepOutcome:
    """Copy ``generation`` completed: sweep the rows it did not contain (if it may)."""
    with transaction.atomic():
        replica = _replica(key)
        _check_begun(replica, generation)
        if generation < replica.completed_generation:
            return SweepOutcome(deleted=0, held=False)  # a newer copy completed and swept
        replica.completed_generation = generation
        replica.copy_done = generation == replica.generation
        stale = PbxUser.objects.filter(replica=replica, generation__lt=generation)
        would_delete, total = stale.count(), replica.users.count()
        limit = get_settings().pbx_users_sweep_limit
        if would_delete and would_delete > limit * total:
            replica.held_sweep = would_delete
            replica.held_generation = generation
            replica.held_at = timezone.now()
            replica.save(update_fields=_STATE)
            logger.warning(
                "Held the sweep of PBX %r (domain %r): it would delete %d of its %d users, "
                "more than PBX_USERS_SWEEP_LIMIT (%r). Confirm it in the admin or with "
                "manage.py appws_pbx confirm-sweep --pbx %r.",
                key.pbx,
                key.domain,
                would_delete,
                total,
                limit,
                key.pbx,
            )
            return SweepOutcome(deleted=0, held=True, would_delete=would_delete)
        _clear_held(replica)
        replica.save(update_fields=_STATE)
        deleted = _delete(replica, stale)
        return SweepOutcome(deleted=deleted, held=False, would_delete=would_delete)


def confirm_sweep(key: ReplicaKey) -> SweepOutcome:
    """Do the sweep held for ``key``; ``NoHeldSweep`` if none is held.

    ``PbxReplica.DoesNotExist`` if appws never replicated that PBX.
    """
    with transaction.atomic():
        found = PbxReplica.objects.get(domain=key.domain, pbx=key.pbx)
        replica = PbxReplica.objects.select_for_update().get(pk=found.pk)
        generation = replica.held_generation
        if generation is None:
            raise NoHeldSweep(f"No sweep of PBX {key.pbx!r} is held.")
        _clear_held(replica)
        replica.save(update_fields=_STATE)
        stale = PbxUser.objects.filter(replica=replica, generation__lt=generation)
        deleted = _delete(replica, stale)
        logger.info("Confirmed the held sweep of PBX %r: deleted %d users.", key.pbx, deleted)
        return SweepOutcome(deleted=deleted, held=False, would_delete=deleted)


def note_skipped(key: ReplicaKey, count: int) -> None:
    """Count ``count`` more rows skipped as bad in ``key``'s replication state."""
    with transaction.atomic():
        replica = _replica(key)
        PbxReplica.objects.filter(pk=replica.pk).update(skipped_rows=F("skipped_rows") + count)


def set_running(
    key: ReplicaKey, running: bool, app: str | None = None, *, begun: int | None = None
) -> int:
    """Say in the replication state whether a session (of App ``app``) replicates ``key`` now.

    Returns the latest copy begun. A session that stops passes ``begun``, the latest
    copy it began (or the number this returned when it started): if a newer one was
    begun since, another session (the PBX reconnected before its old socket closed)
    replicates now, and the state stays "running".
    """
    with transaction.atomic():
        replica = _replica(key, app)
        if not running and begun is not None and replica.generation > begun:
            return replica.generation
        replica.running = running
        if app is not None:
            replica.app_name = app
        replica.save(update_fields=["running", "app_name"])
        return replica.generation


def _check_begun(replica: PbxReplica, generation: int) -> None:
    if not 1 <= generation <= replica.generation:
        raise ValueError(
            f"copy {generation} of PBX {replica.pbx!r} was never begun (latest: "
            f"{replica.generation}): take the generation from begin_copy()"
        )


def _clear_held(replica: PbxReplica) -> None:
    replica.held_sweep = 0
    replica.held_generation = None
    replica.held_at = None


def _write(replica: PbxReplica, rows: Sequence[UserRow], mark: int) -> None:
    written = upsert(replica, rows, mark, unlinked=get_settings().pbx_users_map)
    mapping.link(written.added + written.updated + written.unlinked)
    _changed(replica, written.added, written.updated, [])


def _delete(replica: PbxReplica, users: QuerySet[PbxUser]) -> int:
    guids = list(users.values_list("guid", flat=True))
    if not guids:
        return 0
    linked = list(users.exclude(user=None).values_list("user_id", flat=True).distinct())
    users.delete()
    mapping.release(linked)
    _changed(replica, [], [], guids)
    return len(guids)


def _changed(
    replica: PbxReplica, added: list[PbxUser], updated: list[PbxUser], deleted: list[str]
) -> None:
    if not (added or updated or deleted):
        return
    replica.last_change = timezone.now()
    replica.row_count = replica.users.count()
    replica.save(update_fields=["last_change", "row_count"])
    send = partial(
        pbx_user_changed.send,
        sender=PbxReplica,
        replica=replica,
        added=added,
        updated=updated,
        deleted=deleted,
    )
    # After commit: a receiver reading the tables must find what it is told of.
    transaction.on_commit(send)

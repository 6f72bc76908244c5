"""Stale server processes: which they are, and sweeping them away.

A process silent for three heartbeats crashed or was killed. Sweeping deletes
its row and its sessions' rows, then takes those sessions' channels out of the
channel-layer groups the rows list, so that no broadcast is queued for them.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.db.models import QuerySet
from django.utils import timezone

from appws.conf import get_settings
from appws.layer.membership import Membership, leave_groups

logger = logging.getLogger("appws.live")

STALE_AFTER_BEATS = 3


def stale_cutoff() -> datetime:
    """Processes (and their sessions) not seen since this moment are stale."""
    seconds = get_settings().heartbeat_seconds * STALE_AFTER_BEATS
    return timezone.now() - timedelta(seconds=seconds)


def delete_stale(sessions: QuerySet[Any] | None = None) -> tuple[int, int, list[Membership]]:
    """Delete stale processes (or only these of their ``sessions``) and return what they held.

    Returns the processes and session rows deleted, and the channel and groups of
    each deleted session, to be left by the caller.
    """
    from appws.models import LiveSession, ServerProcess

    cutoff = stale_cutoff()
    stale = set(ServerProcess.objects.filter(last_seen__lt=cutoff).values_list("pk", flat=True))
    if not stale:
        return 0, 0, []
    rows = LiveSession.objects.all() if sessions is None else sessions
    rows = rows.filter(server__in=stale)
    held = list(rows.values_list("server_id", "channel_name", "groups"))
    if sessions is None:
        _total, removed = ServerProcess.objects.filter(pk__in=stale, last_seen__lt=cutoff).delete()
    else:
        _total, removed = rows.filter(server__last_seen__lt=cutoff).delete()
    # A process that beat meanwhile kept its rows: its channels stay in their groups.
    alive = set(
        ServerProcess.objects.filter(pk__in=stale, last_seen__gte=cutoff).values_list(
            "pk", flat=True
        )
    )
    left = [(channel, groups) for server, channel, groups in held if server not in alive and groups]
    return removed.get("appws.ServerProcess", 0), removed.get("appws.LiveSession", 0), left


def _log_sweep(processes: int, sessions: int, left: int) -> None:
    if processes or sessions:
        logger.info(
            "removed %d stopped server process(es) and %d of their session row(s); "
            "took their channels out of %d channel-layer group membership(s)",
            processes,
            sessions,
            left,
        )


async def asweep_stale_processes() -> tuple[int, int]:
    """Delete stale server processes and their sessions, which leave their groups.

    Returns how many processes and session rows were deleted. Run by every
    heartbeat; an unreachable channel layer is logged, never raised.
    """
    processes, sessions, held = await database_sync_to_async(delete_stale)()
    _log_sweep(processes, sessions, await leave_groups(get_channel_layer(), held))
    return processes, sessions


def sweep_stale_processes() -> tuple[int, int]:
    """Synchronous :func:`asweep_stale_processes`, for commands."""
    processes, sessions, held = delete_stale()
    _log_sweep(processes, sessions, leave_now(held))
    return processes, sessions


def leave_now(held: list[Membership]) -> int:
    """:func:`~appws.layer.membership.leave_groups` from sync code; how many left."""
    return async_to_sync(leave_groups)(get_channel_layer(), held) if held else 0

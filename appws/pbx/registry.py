"""The feature that keeps a :class:`~appws.models.PbxConnection` row per connected PBX.

Registered with every PBX session from ``AppwsConfig.ready()``, whether or not
``TRACK_SESSIONS`` is on. A row holds the process row and its heartbeat
(:func:`appws.live_sessions.hold_process`), so a crashed process's rows go stale
and are swept with it. A PBX connecting again replaces its older row, and the
session holding that one is told to end (``appws.pbx_replaced``).
"""

from __future__ import annotations

import asyncio
import functools
import logging
from dataclasses import dataclass
from typing import Any

from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.utils import timezone

from appws.layer import events
from appws.live_sessions import ProcessHold, hold_process, release_process, stale_cutoff
from appws.pbx import targets
from appws.protocol import PbxInfo
from appws.server.connection import Connection
from appws.server.features import FeatureBase

__all__ = ["PbxRegistry", "registry"]

logger = logging.getLogger("appws.pbx")


@dataclass
class _Held:
    holder: ProcessHold
    fields: dict[str, Any]


class PbxRegistry(FeatureBase):
    """Writes the row of each PBX that connects, deletes it when the session ends."""

    name = "pbx-registry"

    def __init__(self) -> None:
        # By channel name: the sessions of this process whose PBX has a row.
        self._held: dict[str, _Held] = {}

    async def pbx_connected(self, conn: Connection, pbx: PbxInfo) -> None:
        """Record ``pbx`` as connected on ``conn``; end the session of its older connection."""
        if conn.session is None:
            return
        channel = conn.channel_name
        fields = _fields(conn.session.app, channel, pbx)
        held = self._held.get(channel)
        if held is None:
            holder = ProcessHold(revive=functools.partial(self._revive, channel))
            held = _Held(holder, fields)
        held.fields = fields  # a new PbxInfo on the same session
        server_pk = await hold_process(held.holder)
        if server_pk is None:
            return  # the process is stopping: its sessions are about to end
        self._held[channel] = held
        # Shielded: once written, a row must be taken back by this task, even when
        # the session ended (and pbx_disconnected ran) meanwhile.
        await asyncio.shield(self._write(held, server_pk))

    async def pbx_disconnected(self, conn: Connection, pbx: PbxInfo) -> None:
        """Delete the row of ``conn``'s PBX; release the process row."""
        held = self._held.pop(conn.channel_name, None)
        await database_sync_to_async(_delete)(conn.channel_name)
        targets.forget(channel=conn.channel_name)
        if held is not None:
            await release_process(held.holder)

    def note(self, channel: str, **fields: Any) -> None:
        """Keep ``fields`` for the row of session ``channel``: a row written again (after
        the process was judged stale) carries them. A session without a row: nothing."""
        held = self._held.get(channel)
        if held is not None:
            held.fields.update(fields)

    async def _write(self, held: _Held, server_pk: int) -> None:
        channel = held.fields["channel_name"]
        replaced = await database_sync_to_async(_connect)(held.fields, server_pk)
        # This process's calls choose again: among the App's PBXs there is a new one.
        targets.forget(held.fields["app_name"])
        if self._held.get(channel) is not held:
            # The session ended while its row was written.
            await database_sync_to_async(_delete)(channel)
            return
        await _tell_replaced(replaced)

    async def _revive(self, channel: str, server_pk: int) -> None:
        held = self._held.get(channel)
        if held is None:
            return
        recreated = await database_sync_to_async(_recreate)(held.fields, server_pk)
        targets.forget(held.fields["app_name"])
        if not recreated:
            # The PBX connected again elsewhere while this process was judged stale.
            await _tell_replaced([channel])


def _fields(app: str, channel: str, pbx: PbxInfo) -> dict[str, Any]:
    return {
        "app_name": app,
        "domain": pbx.identity.domain,
        "pbx": pbx.identity.pbx,
        "sip": pbx.identity.sip,
        "dns": pbx.dns,
        "apis": sorted(pbx.apis),
        "version": pbx.version,
        "build": pbx.build,
        "channel_name": channel,
    }


def _same_pbx(fields: dict[str, Any]) -> Any:
    from appws.models import PbxConnection

    return PbxConnection.objects.filter(
        domain=fields["domain"], pbx=fields["pbx"], sip=fields["sip"]
    )


def _connect(fields: dict[str, Any], server_pk: int) -> list[str]:
    """Write the row; delete the older rows of the same PBX; return the live channels to
    end: theirs, and this one's when a newer row of the PBX is there already.

    Race-free without a lock: every writer deletes the rows older than its own and gives
    way to a newer one. PostgreSQL hands out primary keys before commits, so a writer may
    not see a row older than its own yet; the writer that looks last sees both.
    """
    from appws.models import PbxConnection

    channel = fields["channel_name"]
    PbxConnection.objects.filter(channel_name=channel).delete()
    row = PbxConnection.objects.create(server_id=server_pk, connected_at=timezone.now(), **fields)
    live = _same_pbx(fields).filter(server__last_seen__gte=stale_cutoff())
    alive = list(live.filter(pk__lt=row.pk).values_list("channel_name", flat=True))
    _same_pbx(fields).filter(pk__lt=row.pk).delete()
    if live.filter(pk__gt=row.pk).exists():
        row.delete()
        alive.append(channel)
    return alive


def _recreate(fields: dict[str, Any], server_pk: int) -> bool:
    """Write the row again after a sweep, unless the PBX has a newer row; whether written."""
    from appws.models import PbxConnection

    if _same_pbx(fields).filter(server__last_seen__gte=stale_cutoff()).exists():
        return False
    PbxConnection.objects.create(server_id=server_pk, connected_at=timezone.now(), **fields)
    return True


def _delete(channel: str) -> None:
    from appws.models import PbxConnection

    PbxConnection.objects.filter(channel_name=channel).delete()


async def _tell_replaced(channels: list[str]) -> None:
    layer = get_channel_layer()
    if layer is None or not channels:
        return
    for channel in channels:
        try:
            await layer.send(channel, events.pbx_replaced())
        except Exception:
            # Its row is gone already; a session that is not told lingers until its socket
            # drops, but is never chosen for a request again.
            logger.warning("could not tell session %r that its PBX connected again", channel)


#: The one registry of the process (``AppwsConfig.ready()`` registers it).
registry = PbxRegistry()

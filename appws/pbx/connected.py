"""Which PBXs are connected now: the rows of live processes, as plain values."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from appws.live_sessions import PROCESS_IDENT, stale_cutoff
from appws.protocol import PbxIdentity

__all__ = ["ConnectedPbx", "connected_pbxs", "live_rows"]


@dataclass(frozen=True)
class ConnectedPbx:
    """One connected PBX: which App it serves, who it is, what it enables, who holds it."""

    app: str
    identity: PbxIdentity
    dns: str
    apis: frozenset[str]
    version: str
    build: str
    channel_name: str
    #: The process holding the socket: ``host:pid`` and its unique ident.
    process: str
    process_ident: str
    connected_at: datetime

    @property
    def in_this_process(self) -> bool:
        return self.process_ident == PROCESS_IDENT

    def as_dict(self) -> dict[str, Any]:
        """The connection as JSON values (``manage.py appws_pbx --json``)."""
        return {
            "app": self.app,
            "identity": str(self.identity),
            "domain": self.identity.domain,
            "pbx": self.identity.pbx,
            "sip": self.identity.sip,
            "dns": self.dns,
            "apis": sorted(self.apis),
            "version": self.version,
            "build": self.build,
            "process": self.process,
            "channel": self.channel_name,
            "connected_at": self.connected_at.isoformat(),
        }


def live_rows(app: str | None = None) -> Any:
    """The :class:`~appws.models.PbxConnection` rows of live processes (of App ``app``)."""
    from appws.models import PbxConnection

    rows = PbxConnection.objects.select_related("server").filter(
        server__last_seen__gte=stale_cutoff()
    )
    return rows if app is None else rows.filter(app_name=app)


def connected_pbxs(app: str | None = None) -> list[ConnectedPbx]:
    """The PBXs connected now (to App ``app``, when given); rows of stale processes left out."""
    rows = live_rows(app)
    return [
        ConnectedPbx(
            app=row.app_name,
            identity=row.identity,
            dns=row.dns,
            apis=frozenset(api for api in row.apis if isinstance(api, str)),
            version=row.version,
            build=row.build,
            channel_name=row.channel_name,
            process=str(row.server),
            process_ident=row.server.ident,
            connected_at=row.connected_at,
        )
        for row in rows
    ]

"""The feature that keeps each PBX session's list of App Services in its database row.

On every PBX session whose ``PbxInfo`` enables ``Services`` (unless the service sets
``track_services = False``) it subscribes with ``SubscribeServices`` and writes each
``ServicesInfo`` list, cleaned (:mod:`~appws.pbx.appservices.entries`), into the
session's :class:`~appws.models.PbxConnection` row. Only PBX sessions run features:
a browser sending ``ServicesInfo`` reaches none of this.
"""

from __future__ import annotations

import logging
from typing import Any

from channels.db import database_sync_to_async

from appws.exceptions import PeerError, PeerSubscriptionOverflow, PeerTimeout, SessionEnded
from appws.pbx.appservices.entries import clean_services
from appws.pbx.registry import registry
from appws.protocol import PbxInfo
from appws.server.features import FeatureBase, FeatureTasks, PeerSession

__all__ = ["API", "ServicesFeature", "services_feature"]

logger = logging.getLogger("appws.pbx")

API = "Services"
#: How many skip reasons one log line names.
SHOWN_SKIPS = 5


class ServicesFeature(FeatureBase):
    """Subscribes to a PBX's ``Services`` and stores what it lists."""

    name = "pbx-services"

    def __init__(self) -> None:
        # By channel name: the subscription task of each PBX session of this process.
        self._tasks = FeatureTasks()

    async def pbx_connected(self, conn: PeerSession, pbx: PbxInfo) -> None:
        """Start following the PBX's services, as a task of the session."""
        if API not in pbx.apis or not getattr(type(conn), "track_services", True):
            return
        self._tasks.start(conn, self._follow(conn, pbx), "pbx-services")

    async def pbx_disconnected(self, conn: PeerSession, pbx: PbxInfo) -> None:
        """Stop following (a new ``PbxInfo`` starts again); the row goes with the registry."""
        await self._tasks.stop(conn)

    async def _follow(self, conn: PeerSession, pbx: PbxInfo) -> None:
        while True:
            try:
                async with conn.subscribe_peer({"mt": "SubscribeServices"}, api=API) as updates:
                    async for message in updates:
                        if message.get("mt") == "ServicesInfo":
                            await self._store(conn.channel_name, pbx, message.get("services"))
                return
            except PeerSubscriptionOverflow:
                # Only the newest list counts: subscribe again and get it afresh.
                logger.warning(
                    "PBX %r sent ServicesInfo faster than it was stored", str(pbx.identity)
                )
            except SessionEnded:
                return
            except (PeerError, PeerTimeout) as error:
                logger.warning(
                    "PBX %r did not take SubscribeServices (%r): its services stay unknown",
                    str(pbx.identity),
                    str(error),
                )
                return

    async def _store(self, channel: str, pbx: PbxInfo, listed: Any) -> None:
        cleaned = clean_services(listed)
        if cleaned.skipped:
            logger.warning(
                "PBX %r: %d entries of ServicesInfo skipped: %r",
                str(pbx.identity),
                len(cleaned.skipped),
                cleaned.skipped[:SHOWN_SKIPS],
            )
        # Kept with the registry too: a row it writes again (a revived process) keeps it.
        registry.note(channel, services=cleaned.services)
        if not await database_sync_to_async(_write)(channel, cleaned.services):
            logger.debug("PBX %r has no row (yet): its services wait for it", str(pbx.identity))


def _write(channel: str, services: list[dict[str, Any]]) -> bool:
    """Store ``services`` in the row of the session ``channel``; whether it has one."""
    from appws.models import PbxConnection

    return PbxConnection.objects.filter(channel_name=channel).update(services=services) > 0


#: The one feature of the process (``AppwsConfig.ready()`` registers it after the registry).
services_feature = ServicesFeature()

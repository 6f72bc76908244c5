"""A PBX session's PBX: who is told when it arrives with ``PbxInfo`` and when it is gone.

On ``PbxInfo`` the registered features (:mod:`appws.server.features`) and then the
service's ``pbx_connected`` hook run, as one task of the session: they may call the
PBX and wait for its answers, which the session's reader routes to them meanwhile.
When the session ends, or a new ``PbxInfo`` replaces the PBX, that task is cancelled
and the features and the ``pbx_disconnected`` hook are told.
"""

from __future__ import annotations

import asyncio
import logging

from appws.protocol import PbxInfo
from appws.server import features
from appws.server.features import PeerSession
from appws.server.tasks import SessionTasks

logger = logging.getLogger("appws")


class PbxLife:
    """The PBX of one session, from its ``PbxInfo`` until it is gone."""

    __slots__ = ("_announcing", "_pbx", "_tasks")

    def __init__(self, tasks: SessionTasks) -> None:
        self._tasks = tasks
        self._pbx: PbxInfo | None = None
        self._announcing: asyncio.Task[None] | None = None

    async def connected(self, conn: PeerSession, pbx: PbxInfo) -> None:
        """``pbx`` sent its ``PbxInfo``: forget any earlier one, then announce it."""
        await self.disconnected(conn)
        assert conn.session is not None
        conn.session.pbx = self._pbx = pbx
        self._announcing = self._tasks.spawn(self._announce(conn, pbx), "pbx_connected")

    async def _announce(self, conn: PeerSession, pbx: PbxInfo) -> None:
        for feature in features.registered():
            await feature.pbx_connected(conn, pbx)
        await conn.pbx_connected(pbx)

    async def disconnected(self, conn: PeerSession) -> None:
        """The PBX is gone: stop announcing it, and tell the features and the hook."""
        pbx, self._pbx = self._pbx, None
        if pbx is None:
            return
        task, self._announcing = self._announcing, None
        if task is not None and task is not asyncio.current_task() and not task.done():
            task.cancel()
            await asyncio.wait([task])  # its end, not its CancelledError
        for told in (*features.registered(), None):
            try:
                if told is None:
                    await conn.pbx_disconnected(pbx)
                else:
                    await told.pbx_disconnected(conn, pbx)
            except Exception:
                logger.exception(
                    "%s: pbx_disconnected of %r failed",
                    type(conn).__qualname__,
                    "the service" if told is None else type(told).__qualname__,
                )

"""The feature that replicates the PBX's users on every PBX session of a service that asks.

A service class opts in with ``replicate_users = True`` (the columns of
:data:`~appws.pbx.users.rows.DEFAULT_COLUMNS`) or a sequence of column names
(``guid`` is always added; ``pwd`` is never asked for). On a PBX session whose
``PbxInfo`` enables ``PbxTableUsers`` it runs a
:class:`~appws.pbx.users.replication.Replication` as a task of the session, and
stops it when the PBX goes away (docs/pbx.md, "Replicating the PBX's users").
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from appws.pbx.users import store as default_store
from appws.pbx.users.replication import API, Limits, Replication, Store
from appws.pbx.users.rows import DEFAULT_COLUMNS
from appws.pbx.users.store import ReplicaKey
from appws.protocol import PbxInfo
from appws.server.features import FeatureBase, FeatureTasks, PeerSession

__all__ = ["BATCH_ROWS", "MAX_ROW_BYTES", "UserReplicator", "columns_of", "replicator"]

logger = logging.getLogger("appws.pbx.users")

#: Rows written per transaction (a batch of the initial copy; live changes waiting together).
BATCH_ROWS = 500
#: Batches of the initial copy waiting for the database while the next one is received.
QUEUED_BATCHES = 1
#: A row larger than this (encoded as JSON) is skipped as bad.
MAX_ROW_BYTES = 64 * 1024


def columns_of(spec: object) -> tuple[str, ...] | None:
    """The columns a service's ``replicate_users`` asks for; () for none; None if invalid."""
    if spec is True:
        return DEFAULT_COLUMNS
    if spec is False or spec is None:
        return ()
    if isinstance(spec, str | bytes) or not isinstance(spec, Sequence):
        return None
    if not all(isinstance(name, str) and name for name in spec):
        return None
    # The key always; never the password, which appws would strip anyway.
    wanted = ["guid", *(name for name in spec if name != "pwd")]
    return tuple(dict.fromkeys(wanted))


class UserReplicator(FeatureBase):
    """Runs one :class:`Replication` per PBX session of a service with ``replicate_users``."""

    name = "pbx-users"

    def __init__(
        self,
        store: Store = default_store,
        *,
        batch_rows: int = BATCH_ROWS,
        queued_batches: int = QUEUED_BATCHES,
        max_row_bytes: int = MAX_ROW_BYTES,
    ) -> None:
        self.store = store
        self.limits = Limits(batch_rows, queued_batches, max_row_bytes)
        self._tasks = FeatureTasks()

    async def pbx_connected(self, conn: PeerSession, pbx: PbxInfo) -> None:
        """Start replicating when the service asks for it and the PBX enables the API."""
        if conn.session is None or not conn.replicate_users:
            return
        columns = columns_of(conn.replicate_users)
        if columns is None:
            logger.error(
                "%s.replicate_users must be True or a sequence of column names: "
                "the PBX's users are not replicated",
                type(conn).__qualname__,
            )
            return
        if API not in pbx.apis:
            logger.warning(
                "PBX %r does not enable %r for App %r: its users are not replicated "
                "(tick the API in the App object's settings on the PBX)",
                f"{pbx.identity.domain}/{pbx.identity.pbx}",
                API,
                conn.session.app,
            )
            return
        key = ReplicaKey(pbx.identity.domain, pbx.identity.pbx)
        replication = Replication(conn, key, conn.session.app, columns, self.store, self.limits)
        self._tasks.start(conn, replication.run(), "pbx-users")

    async def pbx_disconnected(self, conn: PeerSession, pbx: PbxInfo) -> None:
        """Stop the session's replication; a write already started completes first."""
        await self._tasks.stop(conn)


#: The one replicator of the process (``AppwsConfig.ready()`` registers it).
replicator = UserReplicator()

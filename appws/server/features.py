"""Features that follow PBX connections from outside the consumer, and their registry.

The server never imports what builds on it (the PBX registry, replication, badges):
those register a feature here from ``AppwsConfig.ready()``, and each PBX session
calls every registered feature when its PBX connects and when it goes away.
"""

from __future__ import annotations

from typing import Protocol

from appws.protocol import PbxInfo
from appws.server.connection import Connection

__all__ = ["SessionFeature", "register", "registered"]


class SessionFeature(Protocol):
    """What a PBX session tells a registered feature."""

    async def pbx_connected(self, conn: Connection, pbx: PbxInfo) -> None:
        """The PBX ``pbx`` logged in on ``conn`` and sent its ``PbxInfo``."""

    async def pbx_disconnected(self, conn: Connection, pbx: PbxInfo) -> None:
        """The PBX session ``conn`` of ``pbx`` ended (or its PBX was replaced)."""


_features: list[SessionFeature] = []


def register(feature: SessionFeature) -> None:
    """Have every PBX session call ``feature``; registering it again changes nothing."""
    if feature not in _features:
        _features.append(feature)


def registered() -> tuple[SessionFeature, ...]:
    """The registered features, in the order they were registered."""
    return tuple(_features)

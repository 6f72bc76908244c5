"""Features: code that hears of every PBX connection of every service.

A feature is any object with ``async pbx_connected(conn, pbx)`` and
``async pbx_disconnected(conn, pbx)``; :func:`register` it once (from an
``AppConfig.ready()``). A PBX session calls each feature, in the order registered,
before the service's own ``pbx_connected`` hook, and again when the PBX is gone
(the session ended, or a new ``PbxInfo`` replaced it). The server imports no
feature: features import the server.
"""

from __future__ import annotations

from typing import Protocol

from appws.protocol import PbxInfo
from appws.server.connection import Connection

__all__ = ["Feature", "register", "registered", "unregister"]


class Feature(Protocol):
    """What the server calls on a feature."""

    async def pbx_connected(self, conn: Connection, pbx: PbxInfo) -> None:
        """A PBX session's ``PbxInfo`` arrived (``conn.session.pbx`` is ``pbx``)."""

    async def pbx_disconnected(self, conn: Connection, pbx: PbxInfo) -> None:
        """The PBX of ``conn`` is gone: the session ended, or a new ``PbxInfo`` came."""


_FEATURES: list[Feature] = []


def register(feature: Feature) -> None:
    """Have ``feature`` told of every PBX connection; registering it again changes nothing."""
    if feature not in _FEATURES:
        _FEATURES.append(feature)


def unregister(feature: Feature) -> None:
    """Stop telling ``feature`` (tests); not registered: nothing."""
    if feature in _FEATURES:
        _FEATURES.remove(feature)


def registered() -> tuple[Feature, ...]:
    """The registered features, in the order they were registered."""
    return tuple(_FEATURES)

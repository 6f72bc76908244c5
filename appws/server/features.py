"""Features: code that hears of every PBX connection of every service.

A feature is any object with a ``name``, ``async pbx_connected(conn, pbx)``,
``async pbx_disconnected(conn, pbx)`` and ``async feature_event(conn, event)``
(:class:`FeatureBase` has do-nothing defaults); :func:`register` it once (from an
``AppConfig.ready()``). A PBX session calls each feature, in the order registered,
before the service's own ``pbx_connected`` hook, and again when the PBX is gone
(the session ended, or a new ``PbxInfo`` replaced it). Other processes reach a
feature on one session by sending it a :func:`appws.layer.events.feature_event`;
the session hands it over at once, never behind its handlers. The server imports
no feature: features import the server.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Collection, Coroutine, Mapping
from typing import Any, Protocol

from appws.protocol import PbxInfo
from appws.server.connection import Connection
from appws.server.peer import PeerListener
from appws.server.peersubscription import PeerSubscription

__all__ = [
    "Feature",
    "FeatureBase",
    "FeatureTasks",
    "PeerSession",
    "deliver_event",
    "register",
    "registered",
    "unregister",
]

logger = logging.getLogger("appws")


class PeerSession(Connection, Protocol):
    """A PBX session as a feature sees it: the connection, its PBX's APIs, its tasks."""

    async def request(
        self, message: Mapping[str, Any], *, api: str, timeout: float | None = None
    ) -> dict[str, Any]:
        """Send ``message`` to the PBX; return its ``<mt>Result`` (the consumer's ``request``)."""

    async def send_peer(self, message: Mapping[str, Any], *, api: str) -> None:
        """Send ``message`` to the PBX, awaiting nothing."""

    def subscribe_peer(
        self, message: Mapping[str, Any], *, api: str, timeout: float | None = None
    ) -> PeerSubscription:
        """Iterate what the PBX sends back for ``message``."""

    def listen_peer(
        self, api: str, mts: Collection[str], push: Callable[[dict[str, Any]], None]
    ) -> PeerListener:
        """Hand every later message of ``api`` with an ``mt`` in ``mts`` to ``push``."""

    def start_task(self, work: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None] | None:
        """Run ``work`` beside the handlers until it ends or the session does."""


class Feature(Protocol):
    """What the server calls on a feature."""

    #: Names the feature in :func:`appws.layer.events.feature_event` and in log lines.
    name: str

    async def pbx_connected(self, conn: PeerSession, pbx: PbxInfo) -> None:
        """A PBX session's ``PbxInfo`` arrived (``conn.session.pbx`` is ``pbx``)."""

    async def pbx_disconnected(self, conn: PeerSession, pbx: PbxInfo) -> None:
        """The PBX of ``conn`` is gone: the session ended, or a new ``PbxInfo`` came."""

    async def feature_event(self, conn: PeerSession, event: Mapping[str, Any]) -> None:
        """Another process sent this feature ``event`` for the session ``conn``."""


class FeatureBase:
    """Do-nothing defaults of :class:`Feature`: override what the feature needs."""

    name = "feature"

    async def pbx_connected(self, conn: PeerSession, pbx: PbxInfo) -> None:
        return None

    async def pbx_disconnected(self, conn: PeerSession, pbx: PbxInfo) -> None:
        return None

    async def feature_event(self, conn: PeerSession, event: Mapping[str, Any]) -> None:
        return None


class FeatureTasks:
    """A feature's task on each PBX session: started in ``pbx_connected``, stopped (and
    awaited) in ``pbx_disconnected``, forgotten when it ends by itself."""

    def __init__(self) -> None:
        # By channel name: the task of each session of this process.
        self._tasks: dict[str, asyncio.Task[None]] = {}

    def start(self, conn: PeerSession, work: Coroutine[Any, Any, None], name: str) -> bool:
        """Run ``work`` as ``conn``'s task of this feature; False once the session ended."""
        task = conn.start_task(work, name)
        if task is None:
            return False
        channel = conn.channel_name
        self._tasks[channel] = task
        task.add_done_callback(lambda done: self._forget(channel, done))
        return True

    async def stop(self, conn: PeerSession) -> None:
        """Cancel ``conn``'s task of this feature and wait for its end (not its error)."""
        task = self._tasks.pop(conn.channel_name, None)
        if task is not None and not task.done():
            task.cancel()
            await asyncio.wait([task])

    def running(self) -> list[asyncio.Task[None]]:
        """The tasks running now, one per session (for tests and diagnostics)."""
        return list(self._tasks.values())

    def _forget(self, channel: str, task: asyncio.Task[None]) -> None:
        if self._tasks.get(channel) is task:
            del self._tasks[channel]


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


async def deliver_event(conn: PeerSession, event: Mapping[str, Any]) -> None:
    """Hand a feature event to the registered feature it names; log one nobody takes."""
    name = event.get("feature")
    feature = next((f for f in _FEATURES if getattr(f, "name", None) == name), None)
    if feature is None:
        logger.warning("an event for feature %r reached a session, which has no such feature", name)
        return
    try:
        await feature.feature_event(conn, event)
    except Exception:
        logger.exception("feature %r failed on an event", name)

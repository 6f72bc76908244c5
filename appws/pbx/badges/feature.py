"""The badges feature: answers the PBX's presence-subscribe calls on every PBX session.

Active on a session whose App is one of the service's ``badge_apps`` and whose PBX
enables ``PbxSignal``: it registers (``Register``, ``NO_MEDIA_CALL``), takes every
``Signaling`` the PBX sends, accepts (``conn``) each ``setup`` that subscribes to the
presence of the App object itself and sends it the user's count (``get_badge`` first,
then every count :mod:`appws.badges` sets), and releases (``rel``) any other call.
One task per session handles the calls and the counts in arrival order.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from appws.exceptions import PeerError, PeerRequestError, SessionEnded
from appws.pbx.badges import frames
from appws.pbx.badges.calls import BadgeCalls
from appws.protocol import PbxInfo
from appws.server.features import FeatureBase, PeerSession
from appws.server.peer import PeerListener

__all__ = ["FEATURE", "BadgeFeature", "badges"]

logger = logging.getLogger("appws.pbx")

#: The feature's name in :func:`appws.layer.events.feature_event`.
FEATURE = "badges"

Item = tuple[str, Mapping[str, Any]]


@dataclass
class _Live:
    """A session answering badge calls: its App, its App object's sip, its calls, its queue."""

    app: str
    own_sip: str
    pbx: str
    calls: BadgeCalls
    queue: asyncio.Queue[Item]
    listener: PeerListener | None = None
    task: asyncio.Task[None] | None = None
    overflowed: bool = field(default=False)

    def put(self, kind: str, item: Mapping[str, Any]) -> None:
        """Queue ``item`` for the session's task (called in the reader: never blocks)."""
        try:
            self.queue.put_nowait((kind, item))
        except asyncio.QueueFull:
            if not self.overflowed:  # once per overflow, not per message
                logger.warning(
                    "badges: PBX %r sent more than MAX_QUEUED_MESSAGES badge messages the "
                    "session has not handled yet: dropping them",
                    self.pbx,
                )
            self.overflowed = True
        else:
            self.overflowed = False


class BadgeFeature(FeatureBase):
    """Badge calls of every PBX session of this process, by channel name."""

    name = FEATURE

    def __init__(self) -> None:
        self._live: dict[str, _Live] = {}

    def calls(self, channel: str) -> BadgeCalls | None:
        """The badge calls of the session on ``channel`` (None: none answered there)."""
        live = self._live.get(channel)
        return None if live is None else live.calls

    async def pbx_connected(self, conn: PeerSession, pbx: PbxInfo) -> None:
        session = conn.session
        if session is None or session.app not in conn.badge_apps or frames.API not in pbx.apis:
            return
        options = conn.options
        live = _Live(
            app=session.app,
            own_sip=pbx.identity.sip,
            pbx=str(pbx.identity),
            calls=BadgeCalls(options.max_badge_calls),
            queue=asyncio.Queue(maxsize=options.max_queued_messages),
        )
        try:
            live.listener = conn.listen_peer(
                frames.API, {"Signaling"}, lambda message: live.put("signal", message)
            )
        except SessionEnded:
            return
        self._live[conn.channel_name] = live
        live.task = conn.start_task(self._run(conn, live), "badges")

    async def pbx_disconnected(self, conn: PeerSession, pbx: PbxInfo) -> None:
        live = self._live.pop(conn.channel_name, None)
        if live is None:
            return
        if live.listener is not None:
            live.listener.close()
        task = live.task
        if task is not None and task is not asyncio.current_task() and not task.done():
            task.cancel()
            await asyncio.wait([task])
        live.calls.clear()

    async def feature_event(self, conn: PeerSession, event: Mapping[str, Any]) -> None:
        live = self._live.get(conn.channel_name)
        if live is None or event.get("app") != live.app:
            # The PBX reconnected without PbxSignal, or the row was read before it ended.
            logger.debug(
                "badges: counts for App %r reached a session not answering them", event.get("app")
            )
            return
        live.put("counts", event)

    # -- the session's task ---------------------------------------------------------

    async def _run(self, conn: PeerSession, live: _Live) -> None:
        try:
            await conn.request(frames.REGISTER, api=frames.API)
        except PeerError as error:
            # The session stays: the rest of its PBX's APIs still work.
            logger.warning(
                "badges: PBX %r refused Register on PbxSignal (%r %r): no badge counts "
                "from this connection",
                live.pbx,
                error.code,
                error.text,
            )
        except SessionEnded:
            return
        except PeerRequestError as error:
            logger.warning(
                "badges: Register on PbxSignal of PBX %r failed: %r", live.pbx, str(error)
            )
        with contextlib.suppress(SessionEnded):
            while True:
                kind, item = await live.queue.get()
                try:
                    if kind == "signal":
                        await self._signal(conn, live, item)
                    else:
                        await self._counts(conn, live, item)
                except SessionEnded:
                    raise
                except Exception:
                    logger.exception("badges: PBX %r: handling a badge message failed", live.pbx)

    async def _signal(self, conn: PeerSession, live: _Live, message: Mapping[str, Any]) -> None:
        call = frames.call_id(message)
        kind = frames.signal_type(message)
        if call is None:
            logger.debug("badges: Signaling without an integer call from PBX %r", live.pbx)
            return
        if kind == "setup":
            await self._setup(conn, live, frames.read_setup(message, call))
        elif kind == "rel":
            live.calls.forget(call)  # the PBX ended it: nothing more is sent on it

    async def _setup(self, conn: PeerSession, live: _Live, setup: frames.Setup) -> None:
        call, user = setup.call, setup.caller
        if not setup.presence or setup.called != live.own_sip or user is None:
            # Not a badge subscription to this App object: a call appws does not take.
            logger.debug(
                "badges: releasing call %r from %r to %r (not a presence subscription to %r)",
                call,
                user,
                setup.called,
                live.own_sip,
            )
            live.calls.forget(call)
            await self._send(conn, frames.answer(call, "rel"))
            return
        if call not in live.calls and live.calls.full():
            logger.warning(
                "badges: PBX %r has %d badge calls (MAX_BADGE_CALLS): releasing call %r of %r",
                live.pbx,
                len(live.calls),
                call,
                user,
            )
            await self._send(conn, frames.answer(call, "rel"))
            return
        entry = live.calls.add(call, user)
        await self._send(conn, frames.answer(call, "conn"))
        count = await _first_count(conn, live.app, user)
        if count is not None and live.calls.get(call) is entry and live.calls.due(entry, count):
            await self._send(conn, frames.badge(call, count))

    async def _counts(self, conn: PeerSession, live: _Live, event: Mapping[str, Any]) -> None:
        counts = event.get("counts")
        if not isinstance(counts, Mapping):
            return
        for user, count in counts.items():
            if not isinstance(user, str) or not _is_count(count):
                continue  # appws.badges checked them; a hand-made event may not have
            for entry in live.calls.of_user(user):
                if live.calls.due(entry, count):
                    await self._send(conn, frames.badge(entry.call, count))

    @staticmethod
    async def _send(conn: PeerSession, message: Mapping[str, Any]) -> None:
        await conn.send_peer(message, api=frames.API)


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


async def _first_count(conn: PeerSession, app: str, user: str) -> int | None:
    """The service's ``get_badge(app, user)``; None (nothing sent) when it fails."""
    try:
        count = await conn.get_badge(app, user)
    except Exception:
        logger.exception("badges: get_badge(%r, %r) failed: no first count sent", app, user)
        return None
    if not _is_count(count):
        logger.error(
            "badges: get_badge(%r, %r) returned %r, not an int >= 0: no first count sent",
            app,
            user,
            count,
        )
        return None
    return int(count)


#: The one feature of the process (``AppwsConfig.ready()`` registers it).
badges = BadgeFeature()

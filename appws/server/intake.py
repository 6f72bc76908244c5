"""What becomes of each event a session's readers take in, decided as it arrives.

A frame is counted, rate-checked and decoded in the reader (:class:`FrameGate`), so
that a reply to one of the session's own requests (:mod:`appws.server.peer`) is
delivered at once, even while a handler of the session runs and awaits it. The rest
goes into the session's inbox (:mod:`appws.server.pump`) in arrival order; a full
inbox closes the session (4503). Until the login succeeded, frames go one at a time
as before: each is read once the last one took effect. A PBX session never answers
a late result, an unreadable frame or a message nobody handles: it drops and logs
them (:mod:`appws.server.drops`).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from appws import protocol
from appws.layer import events
from appws.protocol import CloseCode, LoginKind
from appws.server.connection import Connection, ConnectionState, LogLine
from appws.server.drops import DropLog
from appws.server.frames import FrameGate
from appws.server.peer import PeerRequests
from appws.server.pump import Inbox, Job
from appws.server.reserved import ANSWER_TO_UNREADABLE

logger = logging.getLogger("appws")


class Reader(Connection, Protocol):
    """The session as its readers see it."""

    async def receive_message(self, message: dict[str, Any], frame: str) -> None:
        """Route one decoded message: reserved types, then the handlers."""

    def handles(self, api: str | None, mt: str) -> bool:
        """Whether an ``@mt`` handler is registered for ``(api, mt)``."""

    async def appws_pbx_request(self, event: dict[str, Any]) -> None:
        """Start serving a request for the peer from another process."""

    async def appws_pbx_replaced(self, event: Mapping[str, Any]) -> None:
        """A newer connection of this PBX logged in: end this one."""

    async def appws_feature(self, event: Mapping[str, Any]) -> None:
        """An event for one of the server features on this session."""


class Intake:
    """One session's intake of frames and channel-layer events."""

    __slots__ = ("_closing", "_conn", "_gate", "_peer", "_touch", "drops")

    def __init__(
        self, conn: Reader, gate: FrameGate, peer: PeerRequests, touch: Callable[[], None]
    ) -> None:
        self._conn = conn
        self._gate = gate
        self._peer = peer
        self._touch = touch
        self.drops = DropLog()
        self._closing = False  # a flood: the session closes once the inbox gets there

    async def socket_event(self, event: dict[str, Any], inbox: Inbox) -> None:
        """An ASGI event of the socket."""
        kind = event["type"]
        if kind == "websocket.receive" and self._conn.state is ConnectionState.LOGGED_IN:
            job = await self.frame(event.get("text"), event.get("bytes"))
            if job is not None and not inbox.offer(job):
                await self._overflow(inbox.size)
            return
        if kind == "websocket.disconnect":
            # Now, not once the handlers before it are done: no peer will answer them.
            self._peer.close()
        if kind == "websocket.receive":
            await inbox.put_and_wait(event)  # before login: in the dispatching task
        else:
            await inbox.put(event)

    async def channel_event(self, event: dict[str, Any], inbox: Inbox) -> None:
        """An event on the session's channel; requests for the peer never wait in line."""
        kind = event.get("type")
        if kind == events.PBX_REQUEST:
            await self._conn.appws_pbx_request(event)
        elif kind == events.PBX_REPLACED:
            await self._conn.appws_pbx_replaced(event)
        elif kind == events.FEATURE_EVENT:
            await self._conn.appws_feature(event)
        elif kind == events.INDICATION:
            await inbox.put_or_run(event)
        else:
            await inbox.put(event)

    async def frame(self, text: str | None, data: bytes | None) -> Job | None:
        """Take one frame in; return what the dispatching task must do with it, if anything."""
        conn = self._conn
        if conn.state is ConnectionState.CLOSED or self._closing:
            return None
        self._touch()
        session = conn.session
        logged_in = session is not None
        pbx = session is not None and session.kind is LoginKind.PBX
        closing = self._gate.count(logged_in)
        if closing is not None:
            # In line, after the answers to what came before it; nothing after it is read.
            self._closing = True
            return Job(functools.partial(conn.end, CloseCode.FLOOD, closing))
        if text is None:
            return self._unreadable(protocol.binary_frame_error(), pbx)
        if not logged_in:
            await self._gate.wait_for_budget(text, conn.peer)
            if _closed(conn):  # the login deadline passed meanwhile
                return None
        try:
            message = self._gate.decode(text, logged_in)
        except protocol.FrameError as error:
            return self._unreadable(error, pbx)
        if self._gate.rate_limited and self._gate.rate is not None:
            if pbx:
                self.drops.note(conn.peer, "rate-limited", message)
                return None
            text_ = f"more than {self._gate.rate.rate:g} messages per second: slow down"
            return Job(functools.partial(conn.reply_error, message, "rate-limited", text_))
        if self._peer.deliver(message):
            return None
        unasked = message["mt"].endswith("Result")
        if pbx and unasked and not self._conn.handles(message.get("api"), message["mt"]):
            self.drops.note(conn.peer, "result", message)
            return None
        return Job(functools.partial(self._handle, message, text))

    async def _handle(self, message: dict[str, Any], frame: str) -> None:
        if self._conn.state is not ConnectionState.CLOSED:
            await self._conn.receive_message(message, frame)

    def _unreadable(self, error: protocol.FrameError, pbx: bool) -> Job | None:
        if pbx:
            self.drops.note(self._conn.peer, "unreadable", None, error.code)
            return None
        answer = {"mt": ANSWER_TO_UNREADABLE, "error": error.code, "errorText": error.text}
        return Job(functools.partial(self._send, answer))

    async def _send(self, answer: dict[str, Any]) -> None:
        await self._conn.send_frame(*protocol.encode_frame(answer))

    async def _overflow(self, size: int) -> None:
        conn = self._conn
        session = conn.session
        log = LogLine(
            logger,
            logging.WARNING,
            "closing the session of App %r (sip %r) from %r: more than %d messages "
            "wait for their handler (MAX_QUEUED_MESSAGES)",
            session.app if session else None,
            session.sip if session else None,
            conn.peer,
            size,
        )
        await conn.end(CloseCode.OVERLOADED, "too many messages wait for their handler", log=log)


def _closed(conn: Connection) -> bool:
    # A function: mypy would take the state for unchanged across the await before it.
    return conn.state is ConnectionState.CLOSED

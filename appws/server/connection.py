"""What the parts of a session see of it: its state, and the consumer's small interface.

The consumer is made of parts. Those that act on the session (the reserved
message types, the login, the reactions to App changes, the subscriptions) are
typed against :class:`Connection` or the narrower :class:`Sender` here, never
against the consumer class, so no part imports it; the others (the frame gate,
the live-session tracking, the client scope) take plain values.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from appws.accounts import AppAccount
from appws.conf import AppwsSettings
from appws.protocol import PbxInfo
from appws.server.session import Session


class ConnectionState(enum.Enum):
    """Where a session is in its life; it only ever moves down this list."""

    #: The WebSocket handshake has not been accepted yet.
    CONNECTING = "connecting"
    #: Accepted; no login yet (only the reserved message types before login).
    OPEN = "open"
    #: ``AppLogin`` succeeded: ``consumer.session`` is set.
    LOGGED_IN = "logged-in"
    #: Ended, by ``end()`` or because the client left: nothing more is sent.
    CLOSED = "closed"


class Sender(Protocol):
    """How a part hands frames to the session's socket."""

    def check_size(self, size: int) -> None:
        """Raise ``FrameTooLarge`` for a frame of ``size`` bytes the server must not get."""

    async def send_frame(self, text: str, size: int) -> bool:
        """Hand one encoded frame over; False when nothing was sent (the session ended)."""

    async def end_slow_reader(self, reason: str) -> None:
        """End the session for having been handed more than its send budget."""


class Connection(Sender, Protocol):
    """The session as the reserved message types and the login see it."""

    session: Session | None
    #: The challenge of the last ``AppChallenge``, until an ``AppLogin`` uses it.
    challenge: str | None
    channel_name: str
    #: The settings, read once when the connection opened.
    options: AppwsSettings

    @property
    def apps(self) -> Sequence[str]:
        """The App names this service accepts logins for."""

    @property
    def badge_apps(self) -> Sequence[str]:
        """The Apps whose icon shows a badge count (``presence`` in their AppInfo)."""

    @property
    def replicate_users(self) -> bool | Sequence[str]:
        """Whether (or which columns of) a PBX's user table to replicate."""

    @property
    def state(self) -> ConnectionState:
        """Where the session is in its life."""

    @property
    def peer(self) -> str:
        """The client's address as the ASGI server reports it."""

    @property
    def route_app(self) -> str | None:
        """The App named by the URL this socket came in on, if its route names one."""

    @property
    def host(self) -> str:
        """The Host header the client sent ("" without one)."""

    async def reply(
        self, request: Mapping[str, Any], payload: Mapping[str, Any], *, mt: str | None = None
    ) -> None:
        """Answer ``request`` with ``payload``; ``src`` and ``api`` echoed."""

    async def reply_error(
        self, request: Mapping[str, Any], code: str, text: str, *, mt: str | None = None
    ) -> None:
        """Answer ``request`` with ``error`` and ``errorText``."""

    async def end(
        self, code: int | None, reason: str | None = None, *, log: LogLine | None = None
    ) -> None:
        """End the session: log once, close the socket, release what it holds."""

    async def start_session(self, session: Session) -> bool:
        """Enter the logged-in state as ``session``; False when the session already ended."""

    async def get_app(self, name: str) -> AppAccount | None:
        """The consumer's hook: App ``name`` with its password, or None."""

    async def get_user(self, session: Session) -> Any:
        """The consumer's hook: the Django user of this login, or None."""

    async def get_app_info(self, app: str) -> Mapping[str, Any]:
        """The consumer's hook: the ``AppInfoResult`` payload for ``app``."""

    def get_build(self) -> str | None:
        """The consumer's hook: the current build number, or None."""

    async def get_badge(self, app: str, user: str) -> int:
        """The consumer's hook: the first badge count of ``user`` on App ``app``."""

    async def logged_in(self) -> None:
        """The consumer's hook, called after a successful login."""

    async def pbx_connected(self, pbx: PbxInfo) -> None:
        """The consumer's hook, called (as a task of the session) once ``PbxInfo`` came."""

    async def pbx_disconnected(self, pbx: PbxInfo) -> None:
        """The consumer's hook, called when the PBX is gone or sent a new ``PbxInfo``."""

    async def start_pbx(self, pbx: PbxInfo) -> None:
        """This PBX session's PBX is ``pbx`` (its ``PbxInfo`` arrived): tell whom it concerns."""

    def note_dropped(self, kind: str, message: Mapping[str, Any] | None) -> None:
        """A PBX session dropped ``message`` unanswered (see :mod:`appws.server.drops`)."""


class LogLine:
    """The one log line that says why a session ended (``end(..., log=...)``)."""

    __slots__ = ("args", "level", "logger", "message")

    def __init__(self, logger: Any, level: int, message: str, *args: object) -> None:
        self.logger = logger
        self.level = level
        self.message = message
        self.args = args

    def emit(self) -> None:
        # stacklevel: the record names the code that ended the session, not this line.
        self.logger.log(self.level, self.message, *self.args, stacklevel=3)

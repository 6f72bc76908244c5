"""Bounds on what one session hands the ASGI server: frame size and bytes per window.

Through ASGI a server gives the application no view of its send buffer: daphne
takes every frame at once and keeps what the client has not read in memory, and
refuses (by failing the whole connection) a frame over its own message limit.
So appws bounds what it hands over: no frame above ``MAX_OUTGOING_BYTES``, and
no more than a budget of bytes per session within ``SEND_WINDOW_SECONDS``.
"""

from __future__ import annotations

import time

from appws.conf import AppwsSettings
from appws.exceptions import AppwsError
from appws.protocol import LoginKind
from appws.server.session import Session


class FrameTooLarge(AppwsError):
    """An outgoing message is larger than ``MAX_OUTGOING_BYTES``; it was not sent."""

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(
            "too-large",
            f"the answer is {size} bytes, more than this server sends in one message "
            f"({limit}): ask for less at a time",
        )
        self.size = size
        self.limit = limit


def send_window_bytes(session: Session | None, settings: AppwsSettings) -> int:
    """The bytes ``session`` may be handed per window: a PBX's connection gets more.

    ``session`` is None before a login. A PBX streams far more than a browser
    (replication, call control), so it has its own budget.
    """
    pbx = session is not None and session.kind is LoginKind.PBX
    return settings.pbx_send_window_bytes if pbx else settings.send_window_bytes


class SendWindow:
    """Bytes handed to the server for one session in the current window of time.

    A window starts with the first frame after the previous one ended; within it
    at most ``limit`` bytes may go out.
    """

    __slots__ = ("seconds", "start", "used")

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.start = time.monotonic()
        self.used = 0

    def take(self, size: int, limit: int) -> bool:
        """Count ``size`` bytes; False (nothing counted) when they would exceed ``limit``."""
        now = time.monotonic()
        if now - self.start >= self.seconds:
            self.start = now
            self.used = 0
        if self.used + size > limit:
            return False
        self.used += size
        return True

"""A session's row in the live-session table, from its login until it ends."""

from __future__ import annotations

import logging
import time
from typing import Any

from django.apps import apps as django_apps

from appws import live_sessions
from appws.server.session import Session

login_logger = logging.getLogger("appws.login")


class LiveTracking:
    """The live-session record of one connection (``TRACK_SESSIONS``)."""

    __slots__ = ("enabled", "record")

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled and django_apps.is_installed("appws")
        self.record: live_sessions.LiveRecord | None = None

    async def start(self, session: Session, fields: dict[str, Any]) -> None:
        """Write the row of ``session``; a failure is logged, never raised."""
        if not self.enabled:
            return
        try:
            self.record = await live_sessions.register(fields)
        except Exception:
            # Tracking must not cost the login: the session works, unlisted.
            login_logger.exception(
                "could not record the live session of App %r (sip %r); is the database "
                "migrated (manage.py migrate)?",
                session.app,
                session.sip,
            )

    def touch(self) -> None:
        """Note activity now (a frame came in); the heartbeat writes it."""
        if self.record is not None:
            self.record.last_activity = time.time()

    async def stop(self) -> None:
        """Delete the row, if there is one."""
        record, self.record = self.record, None
        if record is not None:
            await live_sessions.unregister(record)


def live_fields(session: Session, channel_name: str, peer: str, service: type) -> dict[str, Any]:
    """The columns of the LiveSession row of ``session``."""
    return {
        "channel_name": channel_name,
        "app_name": session.app,
        "sip": session.sip[:255],
        "domain": session.domain[:255],
        "dn": session.dn[:255],
        "user": session.user if getattr(session.user, "pk", None) else None,
        "login_kind": session.kind.value,
        "remote_address": peer[:100],
        "service": f"{service.__module__}.{service.__qualname__}"[:255],
    }

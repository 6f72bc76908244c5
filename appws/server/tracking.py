"""A session's row in the live-session table, from its login until it ends."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from django.apps import apps as django_apps

from appws import live_sessions
from appws.server.login import default_user
from appws.server.session import Session

login_logger = logging.getLogger("appws.login")


class LiveTracking:
    """The live-session record of one connection (``TRACK_SESSIONS``).

    Also the session's :class:`~appws.server.subscriptions.Membership`: the row
    lists the session's groups, so that a sweep after a crash can leave them.
    """

    __slots__ = ("_started", "enabled", "groups", "record", "rejoin")

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled and django_apps.is_installed("appws")
        self.record: live_sessions.LiveRecord | None = None
        #: The session's channel-layer groups (shared with its record).
        self.groups: set[str] = set()
        #: Re-adds the session to its groups; the consumer sets it.
        self.rejoin: Callable[[], Awaitable[None]] | None = None
        self._started: asyncio.Future[None] | None = None

    async def start(self, session: Session, fields: dict[str, Any], *, find_user: bool) -> None:
        """Write the row of ``session``; a failure is logged, never raised.

        ``find_user``: the row's write also finds ``session.user`` (the default
        ``get_user``, in the same hop and transaction); without a row, a look-up of
        its own does.
        """
        if not self.enabled:
            if find_user:
                session.user = await default_user(session)
            return
        if find_user:
            fields = {**fields, live_sessions.LOOK_UP_USER: session.sip}
        # A join while the row is being written waits for it.
        self._started = started = asyncio.get_running_loop().create_future()
        try:
            self.record = await live_sessions.register(fields, self.groups, self.rejoin)
        except Exception:
            # Tracking must not cost the login: the session works, unlisted.
            login_logger.exception(
                "could not record the live session of App %r (sip %r); is the database "
                "migrated (manage.py migrate)?",
                session.app,
                session.sip,
            )
        finally:
            started.set_result(None)
        record = self.record
        if not find_user:
            return
        if record is not None and record.pk is not None:
            session.user = record.fields.get("user")
        else:  # no row written (a failure, or the process is stopping)
            session.user = await default_user(session)

    async def joining(self, group: str) -> None:
        """Before joining ``group``: the row lists it once this returns."""
        self.groups.add(group)
        if self._started is not None:
            await self._started
        if self.record is not None:
            await live_sessions.write_groups(self.record)

    def left(self, group: str) -> None:
        """After leaving ``group``: the next heartbeat writes the row."""
        self.groups.discard(group)

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

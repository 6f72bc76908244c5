"""Live sessions: a row per logged-in connection, kept true across processes.

Each server process owns a :class:`~appws.models.ServerProcess` row and beats
its ``last_seen`` every ``HEARTBEAT_SECONDS`` while it holds sessions. A row
whose process has been silent for three heartbeats is stale (the process
crashed or was killed): every live process deletes stale processes, and their
sessions with them, on each beat; the admin marks such rows as stale meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
import uuid
import weakref
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from appws.conf import get_settings
from appws.layer import events

logger = logging.getLogger("appws.live")

PROCESS_IDENT = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
STALE_AFTER_BEATS = 3


def stale_cutoff() -> datetime:
    """Processes (and their sessions) not seen since this moment are stale."""
    seconds = get_settings().heartbeat_seconds * STALE_AFTER_BEATS
    return timezone.now() - timedelta(seconds=seconds)


@dataclass(eq=False)
class LiveRecord:
    """One logged-in session's row, as its consumer holds it.

    ``fields`` are the row's columns; ``pk`` is the row while there is one;
    the consumer sets ``last_activity`` (``time.time()``) on every frame, and the
    heartbeat writes it to the row.
    """

    fields: dict[str, Any]
    pk: int | None = None
    last_activity: float = field(default_factory=time.time)


class _Registry:
    """This process's live-session records and its heartbeat."""

    def __init__(self) -> None:
        # Weak: a record of a consumer that was dropped without releasing it is no session.
        self.records: weakref.WeakSet[LiveRecord] = weakref.WeakSet()
        self.task: asyncio.Task[None] | None = None
        self.server_pk: int | None = None
        self.last_beat = 0.0
        # The process is stopping: end_process() deletes every row at once.
        self.stopping = False
        self._lock: tuple[asyncio.AbstractEventLoop, asyncio.Lock] | None = None

    def _start_lock(self) -> asyncio.Lock:
        # One lock per event loop: a lock must not be shared across loops.
        loop = asyncio.get_running_loop()
        if self._lock is None or self._lock[0] is not loop:
            self._lock = (loop, asyncio.Lock())
        return self._lock[1]

    async def add(self, record: LiveRecord) -> None:
        if self.stopping:
            return  # the process is going away: its session is about to be ended
        # Logins overlap: only one of them may (re)start the heartbeat, and no row
        # may be written before the process row exists.
        async with self._start_lock():
            if self.task is None or self.task.done():
                self.server_pk = await database_sync_to_async(_touch_server)()
                self.task = asyncio.get_running_loop().create_task(self._heartbeat())
        record.pk = await database_sync_to_async(_create_row)(
            {**record.fields, "server_id": self.server_pk}
        )
        self.records.add(record)

    async def remove(self, record: LiveRecord) -> None:
        self.records.discard(record)
        pk, record.pk = record.pk, None
        if pk is not None and not self.stopping:
            await database_sync_to_async(_delete_row)(pk)
        if not self.records:
            await self.stop_beating()

    async def stop_beating(self) -> None:
        if self.task is not None:
            # Nothing to keep alive: stop beating until the next login. Detach
            # first, so that a login meanwhile starts a heartbeat of its own.
            task, self.task = self.task, None
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def end_process(self) -> int:
        self.stopping = True
        await self.stop_beating()
        for record in list(self.records):
            record.pk = None
        self.records.clear()
        server_pk, self.server_pk = self.server_pk, None
        if server_pk is None:
            return 0
        return await database_sync_to_async(_delete_server)(server_pk)

    async def _heartbeat(self) -> None:
        interval = get_settings().heartbeat_seconds
        while True:
            await asyncio.sleep(interval)
            try:
                await self.beat()
            except Exception:  # a database hiccup must not end the heartbeat
                logger.exception("appws heartbeat failed")

    async def beat(self) -> None:
        """Record this process as alive, write activity times, clear stale rows."""
        since, self.last_beat = self.last_beat, time.time()
        active = {
            record.pk: record.last_activity
            for record in list(self.records)
            if record.pk is not None and record.last_activity > since
        }
        server_pk, came_back = await database_sync_to_async(_beat)(self.server_pk, active)
        self.server_pk = server_pk
        if came_back:
            # Our rows were removed with our process row: put them back.
            for record in list(self.records):
                record.pk = await database_sync_to_async(_create_row)(
                    {**record.fields, "server_id": server_pk}
                )


_registry = _Registry()


async def register(fields: dict[str, Any]) -> LiveRecord:
    """Record a new session as a LiveSession row; return the record its consumer keeps."""
    record = LiveRecord(fields)
    await _registry.add(record)
    return record


async def unregister(record: LiveRecord) -> None:
    """Remove the LiveSession row of ``record``."""
    await _registry.remove(record)


def stop_tracking() -> None:
    """This process is stopping: leave session rows to :func:`end_process`."""
    _registry.stopping = True


async def end_process() -> int:
    """Delete this process's row and its sessions' rows, in one statement; return how many.

    For a graceful stop, once its sessions are closed: nothing is left to sweep.
    """
    return await _registry.end_process()


async def beat() -> None:
    """Run one heartbeat now (tests and shutdown hooks)."""
    await _registry.beat()


def _touch_server() -> int:
    from appws.models import ServerProcess

    now = timezone.now()
    host, pid, _tag = PROCESS_IDENT.rsplit(":", 2)
    server, created = ServerProcess.objects.get_or_create(
        ident=PROCESS_IDENT,
        defaults={"hostname": host, "pid": int(pid), "last_seen": now, "started": now},
    )
    if not created:
        ServerProcess.objects.filter(pk=server.pk).update(last_seen=now)
    return int(server.pk)


def _create_row(fields: dict[str, Any]) -> int:
    from appws.models import App, LiveSession

    now = timezone.now()
    app = App.objects.filter(name=fields["app_name"]).first()
    row = LiveSession.objects.create(connected_at=now, last_activity=now, app=app, **fields)
    return int(row.pk)


def _delete_row(pk: int) -> None:
    from appws.models import LiveSession

    LiveSession.objects.filter(pk=pk).delete()


def _delete_server(pk: int) -> int:
    from appws.models import ServerProcess

    _total, removed = ServerProcess.objects.filter(pk=pk).delete()
    return removed.get("appws.LiveSession", 0)


def _beat(server_pk: int | None, active: dict[int, float]) -> tuple[int, bool]:
    from appws.models import LiveSession, ServerProcess

    now = timezone.now()
    came_back = False
    if server_pk is None or not ServerProcess.objects.filter(pk=server_pk).update(last_seen=now):
        # Another process judged this one stale (after a long pause) and removed it.
        server_pk, came_back = _touch_server(), True
    for pk, stamp in active.items():
        LiveSession.objects.filter(pk=pk).update(
            last_activity=datetime.fromtimestamp(stamp, tz=timezone.get_current_timezone())
        )
    processes, sessions = sweep_stale_processes()
    if processes:
        logger.info(
            "removed %d stopped server process(es) and %d of their session row(s)",
            processes,
            sessions,
        )
    return server_pk, came_back


def live_session_count() -> Count:
    """An App annotation: how many of its sessions are on processes still alive."""
    return Count("livesession", filter=Q(livesession__server__last_seen__gte=stale_cutoff()))


def sweep_stale_processes() -> tuple[int, int]:
    """Delete stale server processes and their sessions; return how many of each."""
    from appws.models import ServerProcess

    _total, removed = ServerProcess.objects.filter(last_seen__lt=stale_cutoff()).delete()
    return removed.get("appws.ServerProcess", 0), removed.get("appws.LiveSession", 0)


def _send(channel_names: list[str], event: dict[str, Any]) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    for name in channel_names:
        async_to_sync(layer.send)(name, event)


def disconnect_sessions(queryset: QuerySet[Any]) -> int:
    """Close the connections of these LiveSession rows, on whichever process holds them.

    Rows of stale processes are deleted instead (there is no connection left).
    Returns how many sessions were told or removed.
    """
    cutoff = stale_cutoff()
    stale = queryset.filter(server__last_seen__lt=cutoff)
    removed, _ = stale.delete()
    names = list(
        queryset.filter(server__last_seen__gte=cutoff).values_list("channel_name", flat=True)
    )
    _send(names, events.disconnect())
    return len(names) + removed


def notify_app_changed(name: str) -> None:
    """Tell every live session of App ``name`` to re-read it."""
    from django.apps import apps as django_apps

    if not django_apps.is_installed("appws"):
        return
    from appws.models import LiveSession

    names = list(LiveSession.objects.filter(app_name=name).values_list("channel_name", flat=True))
    _send(names, events.app_changed(name))

"""Live sessions: a row per logged-in connection, kept true across processes.

Each server process owns a :class:`~appws.models.ServerProcess` row and beats
its ``last_seen`` every ``HEARTBEAT_SECONDS`` while it holds sessions. A row
whose process has been silent for three heartbeats is stale (the process
crashed or was killed): every live process deletes stale processes, and their
sessions with them, on each beat; the admin marks such rows as stale meanwhile.

A row also lists the channel-layer groups its session is in, written *before*
the session joins a group (writes of concurrent joins share one round trip), so
that whoever sweeps a crashed process can take its channels out of them.

Rows of PBX connections (:mod:`appws.pbx`) hold the process row too
(:func:`hold_process`), whether or not ``TRACK_SESSIONS`` is on.

Long because the row writes, the heartbeat and the group write-ahead share one
registry's state (its records, its process row, its event loop); the sweep
itself lives in :mod:`appws.stale`.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import socket
import time
import uuid
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from appws.conf import get_settings
from appws.layer import events
from appws.live_rows import LOOK_UP_USER as LOOK_UP_USER
from appws.live_rows import RowWriter
from appws.stale import STALE_AFTER_BEATS as STALE_AFTER_BEATS
from appws.stale import asweep_stale_processes, delete_stale, leave_now
from appws.stale import stale_cutoff as stale_cutoff
from appws.stale import sweep_stale_processes as sweep_stale_processes

logger = logging.getLogger("appws.live")

PROCESS_IDENT = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@dataclass(eq=False)
class LiveRecord:
    """One logged-in session's row, as its consumer holds it.

    ``fields`` are the row's columns; ``pk`` is the row while there is one;
    the consumer sets ``last_activity`` (``time.time()``) on every frame, and the
    heartbeat writes it to the row. ``groups`` are the channel-layer groups the
    session is in (the consumer adds one before joining it, removes it after
    leaving it); ``written`` those the row lists. ``rejoin`` re-adds the
    session to its groups (after a sweep took it out while it was alive).
    A name in ``fields[LOOK_UP_USER]`` has the row's first write find the
    session's Django user by it; ``fields["user"]`` holds that user after.
    """

    fields: dict[str, Any]
    pk: int | None = None
    last_activity: float = field(default_factory=time.time)
    groups: set[str] = field(default_factory=set)
    written: frozenset[str] = frozenset()
    rejoin: Callable[[], Awaitable[None]] | None = None
    #: Done once the first write of the row has ended (either way).
    created: asyncio.Future[None] | None = None


@dataclass(eq=False)
class ProcessHold:
    """Rows other than a session's that need this process's row and its heartbeat.

    ``revive`` re-creates them, given the new process row, after another process
    judged this one stale and deleted its row (and, by cascade, theirs).
    """

    revive: Callable[[int], Awaitable[None]] | None = None


class _Registry:
    """This process's live-session records and its heartbeat."""

    def __init__(self) -> None:
        # Weak: a record of a consumer that was dropped without releasing it is no session.
        self.records: weakref.WeakSet[LiveRecord] = weakref.WeakSet()
        self.task: asyncio.Task[None] | None = None
        self.last_beat = 0.0
        # The process is stopping: end_process() deletes every row at once.
        self.stopping = False
        self._lock: tuple[asyncio.AbstractEventLoop, asyncio.Lock] | None = None
        # Records waiting for their groups to be written, and the task writing them.
        self._waiting: list[tuple[LiveRecord, asyncio.Future[None]]] = []
        self._writer: asyncio.Task[None] | None = None
        # Records re-created after a sweep: rejoined again on the next beat, in case
        # the sweeper's group_discard came after the first rejoin.
        self._revived: list[LiveRecord] = []
        # Rows other than sessions' (PBX connections) keeping the process row alive.
        self.holds: set[ProcessHold] = set()
        # Session rows are inserted and deleted in batches (appws.live_rows).
        self.rows = RowWriter()

    @property
    def server_pk(self) -> int | None:
        """This process's ``ServerProcess`` row (the row writer keeps it)."""
        return self.rows.server_pk

    @server_pk.setter
    def server_pk(self, pk: int | None) -> None:
        self.rows.server_pk = pk

    def _start_lock(self) -> asyncio.Lock:
        # One lock per event loop: a lock must not be shared across loops.
        loop = asyncio.get_running_loop()
        if self._lock is None or self._lock[0] is not loop:
            self._lock = (loop, asyncio.Lock())
        return self._lock[1]

    async def add(self, record: LiveRecord) -> None:
        if self.stopping:
            return  # the process is going away: its session is about to be ended
        await self._start_beating(row_now=False)
        await self._create(record)
        self.records.add(record)

    async def _start_beating(self, *, row_now: bool = True) -> None:
        # Logins overlap: only one of them may (re)start the heartbeat, and no row
        # may be written before the process row exists.
        async with self._start_lock():
            if self.task is None or self.task.done():
                if row_now or self.server_pk is None:
                    self.server_pk = await database_sync_to_async(_touch_server)()
                else:
                    # The row most likely exists (it did when the heartbeat stopped):
                    # the session's own insert checks that, in its transaction.
                    self.rows.touch = functools.partial(_ensure_server, self.server_pk)
                self.task = asyncio.get_running_loop().create_task(self._heartbeat())

    async def hold(self, holder: ProcessHold) -> int | None:
        if self.stopping:
            return None
        await self._start_beating()
        self.holds.add(holder)
        return self.server_pk

    async def release(self, holder: ProcessHold) -> None:
        self.holds.discard(holder)
        if not self.records and not self.holds:
            await self.stop_beating()

    async def _create(self, record: LiveRecord) -> None:
        record.pk = None
        record.created = created = asyncio.get_running_loop().create_future()
        try:
            groups = frozenset(record.groups)
            record.pk, user = await self.rows.create({**record.fields, "groups": sorted(groups)})
            if record.fields.pop(LOOK_UP_USER, None) is not None:
                record.fields["user"] = user  # found once: a re-created row keeps it
            record.written = groups
        finally:
            created.set_result(None)

    async def write_groups(self, record: LiveRecord) -> None:
        """Return once the row of ``record`` lists each of its groups (or it has no row).

        Records waiting meanwhile are written together, in one round trip.
        """
        if record.pk is None and record.created is not None:
            await record.created  # a join during the row's write waits for the row
        if record.pk is not None and not record.groups <= record.written:
            await self._enqueue(record)

    def _enqueue(self, record: LiveRecord) -> asyncio.Future[None]:
        # One writer at a time, so that a later write never loses to an earlier one.
        loop = asyncio.get_running_loop()
        writer = self._writer
        if writer is None or writer.done() or writer.get_loop() is not loop:
            self._waiting = [entry for entry in self._waiting if entry[1].get_loop() is loop]
            self._writer = loop.create_task(self._write_waiting())
        waiter = loop.create_future()
        self._waiting.append((record, waiter))
        return waiter

    async def _write_waiting(self) -> None:
        while self._waiting:
            batch, self._waiting = self._waiting, []
            rows = {r.pk: (r, frozenset(r.groups)) for r, _ in batch if r.pk is not None}
            try:
                await database_sync_to_async(_store_groups)(
                    {pk: sorted(groups) for pk, (_, groups) in rows.items()}
                )
            except Exception:
                # The subscription goes ahead; the next heartbeat writes the groups.
                logger.exception("could not record the channel-layer groups of a live session")
            else:
                for record, groups in rows.values():
                    record.written = groups
            finally:
                for _, waiter in batch:
                    if not waiter.done():
                        waiter.set_result(None)

    async def remove(self, record: LiveRecord) -> None:
        self.records.discard(record)
        pk, record.pk = record.pk, None
        if pk is not None and not self.stopping:
            await self.rows.delete(pk)
        if not self.records and not self.holds:
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
        self.holds.clear()  # their rows go with the process row
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
        revived, self._revived = self._revived, []
        if came_back:
            # Our rows were removed with our process row, our channels taken out of
            # their groups: put both back.
            revived = self._revived = list(self.records)
            for record in revived:
                await self._create(record)
            for holder in list(self.holds):
                await _revive(holder, server_pk)
        # Groups left since the last beat (and joins whose write failed).
        changed = [r for r in list(self.records) if r.pk is not None and r.groups != r.written]
        if changed:
            await asyncio.gather(*map(self._enqueue, changed))
        await asweep_stale_processes()
        for record in revived:
            await _rejoin(record)


_registry = _Registry()


async def register(
    fields: dict[str, Any],
    groups: set[str] | None = None,
    rejoin: Callable[[], Awaitable[None]] | None = None,
) -> LiveRecord:
    """Record a new session as a LiveSession row; return the record its consumer keeps.

    ``groups`` is the session's set of channel-layer groups (kept by reference);
    ``rejoin`` re-adds the session to them.
    """
    record = LiveRecord(fields, groups=set() if groups is None else groups, rejoin=rejoin)
    await _registry.add(record)
    return record


async def hold_process(holder: ProcessHold) -> int | None:
    """Keep this process's row and heartbeat while ``holder`` is held; return the row's pk.

    Whether or not ``TRACK_SESSIONS`` is on. None when the process is stopping.
    """
    return await _registry.hold(holder)


async def release_process(holder: ProcessHold) -> None:
    """``holder`` needs the process row no more (the heartbeat stops with the last one)."""
    await _registry.release(holder)


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


async def write_groups(record: LiveRecord) -> None:
    """Write ``record.groups`` to its row before the session joins a new group."""
    await _registry.write_groups(record)


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


def _ensure_server(pk: int) -> int:
    from appws.models import ServerProcess

    if ServerProcess.objects.filter(pk=pk).update(last_seen=timezone.now()):
        return pk
    return _touch_server()  # removed meanwhile (judged stale while idle, or by hand)


def _store_groups(groups: dict[int, list[str]]) -> None:
    from appws.models import LiveSession

    # One UPDATE for the whole batch (a CASE over the primary keys).
    rows = [LiveSession(pk=pk, groups=names) for pk, names in groups.items()]
    LiveSession.objects.bulk_update(rows, ["groups"])


async def _revive(holder: ProcessHold, server_pk: int) -> None:
    if holder.revive is None:
        return
    try:
        await holder.revive(server_pk)
    except Exception:  # a database hiccup: the row stays missing until its PBX reconnects
        logger.exception("could not re-create the rows of a swept server process")


async def _rejoin(record: LiveRecord) -> None:
    if record.rejoin is None:
        return
    try:
        await record.rejoin()
    except Exception:  # the layer's outage handling rejoins anyway
        logger.exception("could not rejoin the groups of a swept live session")


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
    return server_pk, came_back


def live_session_count() -> Count:
    """An App annotation: how many of its sessions are on processes still alive."""
    return Count("livesession", filter=Q(livesession__server__last_seen__gte=stale_cutoff()))


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
    _processes, removed, held = delete_stale(queryset)
    leave_now(held)
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

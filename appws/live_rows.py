"""Live-session rows written in batches: what waits meanwhile shares one transaction.

Every ``database_sync_to_async`` call runs on the same database thread, and on
SQLite each commit is a sync to disk: a login that waits for its row while
another login's row is written would otherwise pay for its own hop and commit.
:class:`RowWriter` collects the inserts (logins) and deletes (closes) that arrive
while a write is under way and writes them next, together: one hop, one
``SELECT`` of the Apps they name, one ``INSERT``, one ``DELETE``, one commit.
Each caller still returns only once its own row is written (or its write failed).

A row may ask for its session's Django user to be found on the way (``MAP_USERS``
with the default ``get_user``): the batch looks its users up in one ``SELECT``.

The writer keeps its database connection from one batch to the next while rows
keep coming (:class:`KeptConnection`): opening a SQLite connection costs more
than a login's whole row.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from django.contrib.auth import get_user_model
from django.db import close_old_connections, connection, transaction
from django.utils import timezone

#: The key of a row's fields that asks for the user named by it (``USERNAME_FIELD``).
LOOK_UP_USER = "user_lookup"

#: A written row: its pk, and the user it looked up (None: none, or none asked for).
Created = tuple[int, Any]

#: Seconds without a batch after which the writer gives its connection back.
KEEP_SECONDS = 1.0


class KeptConnection:
    """The database thread's connection, kept between calls that follow closely.

    ``database_sync_to_async`` applies Django's ``CONN_MAX_AGE`` around every
    call: with the default 0 each call opens a connection and closes it. Here
    a call after another one (no other code used the thread's connection in
    between) goes on with the same connection, once it passes Django's usability
    check (``is_usable()``: a dead connection is replaced). A connection is kept
    after a call while more work is waiting (``keep``); a SQLite one also while
    idle, for :data:`KEEP_SECONDS`: an idle SQLite connection holds no lock and
    no server's slot, where an idle PostgreSQL one would (and would keep a test
    run's ``DROP DATABASE`` waiting). Then a ``database_sync_to_async`` hop gives
    it back by Django's rules, as any other call on that thread would.
    """

    def __init__(self) -> None:
        self._kept: object = None  # the DB-API connection this left open
        self._release: asyncio.TimerHandle | None = None
        self._giving_back: asyncio.Task[None] | None = None

    async def run(self, keep: Callable[[], bool], function: Callable[..., Any], *args: Any) -> Any:
        """``function(*args)`` in the database thread, on the kept connection.

        ``keep()``, asked in that thread after the call: more work is waiting.
        """
        if self._release is not None:
            self._release.cancel()
        try:
            return await sync_to_async(self._call, thread_sensitive=True)(keep, function, *args)
        finally:
            if self._kept is not None:
                loop = asyncio.get_running_loop()
                self._release = loop.call_later(KEEP_SECONDS, self._give_back, loop)

    def _call(self, keep: Callable[[], bool], function: Callable[..., Any], *args: Any) -> Any:
        kept, self._kept = self._kept, None
        if kept is not None and connection.connection is kept:
            if not connection.is_usable():
                connection.close()  # the next statement connects afresh
        else:
            close_old_connections()
        try:
            result = function(*args)
        except BaseException:
            close_old_connections()
            raise
        if connection.errors_occurred or not (connection.vendor == "sqlite" or keep()):
            close_old_connections()  # Django's rules: closed if unusable or too old
        self._kept = connection.connection
        return result

    def _give_back(self, loop: asyncio.AbstractEventLoop) -> None:
        self._release = None
        if not loop.is_closed():
            self._giving_back = loop.create_task(self.give_back())

    async def give_back(self) -> None:
        """Give the connection back now, by Django's rules (``CONN_MAX_AGE``)."""
        if self._release is not None:
            self._release.cancel()
            self._release = None
        await database_sync_to_async(self._forget)()

    def _forget(self) -> None:
        # Around this call, Django's own rules close the connection (or keep it).
        self._kept = None


@dataclass
class _Batch:
    creates: list[tuple[dict[str, Any], asyncio.Future[Created]]] = field(default_factory=list)
    deletes: list[tuple[int, asyncio.Future[None]]] = field(default_factory=list)


class RowWriter:
    """Writes LiveSession rows in batches, one writer task per event loop."""

    def __init__(self) -> None:
        self._batch = _Batch()
        self._writer: asyncio.Task[None] | None = None
        #: The database connection kept between batches.
        self.connection = KeptConnection()
        #: The process row the rows belong to (``ServerProcess``).
        self.server_pk: int | None = None
        #: Run first in the next batch, in its transaction: makes sure the process row
        #: exists and returns its pk (a new one when it was gone).
        self.touch: Callable[[], int] | None = None

    async def create(self, fields: dict[str, Any]) -> Created:
        """Insert a row with ``fields`` (``app_name`` names its App); return its pk and user.

        The row belongs to :attr:`server_pk` as it is when the batch is written.
        With ``fields[LOOK_UP_USER]``, its ``user`` is the active user of that name.
        """
        future: asyncio.Future[Created] = asyncio.get_running_loop().create_future()
        self._start().creates.append((fields, future))
        return await future

    async def delete(self, pk: int) -> None:
        """Delete the row ``pk``."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._start().deletes.append((pk, future))
        await future

    def _waiting(self) -> bool:
        # Asked from the database thread: at worst a row that arrives just now
        # finds the connection given back, as it always did.
        return bool(self._batch.creates or self._batch.deletes)

    def _start(self) -> _Batch:
        loop = asyncio.get_running_loop()
        writer = self._writer
        if writer is None or writer.done() or writer.get_loop() is not loop:
            self._batch = _Batch()  # futures of another (closed) loop wait for nobody
            self._writer = loop.create_task(self._write())
        return self._batch

    async def _write(self) -> None:
        while self._batch.creates or self._batch.deletes:
            batch, self._batch = self._batch, _Batch()
            futures: list[asyncio.Future[Any]] = [f for _, f in batch.creates]
            futures += [f for _, f in batch.deletes]
            touch, self.touch = self.touch, None
            try:
                server_pk, pks, deleted = await self.connection.run(
                    self._waiting,
                    write_rows,
                    [fields for fields, _ in batch.creates],
                    [pk for pk, _ in batch.deletes],
                    self.server_pk,
                    touch,
                )
            except asyncio.CancelledError:  # with the loop: nobody may wait forever
                for future in futures:
                    future.cancel()
                raise
            except Exception as error:
                self.touch = self.touch or touch  # the next batch tries again
                for future in futures:
                    if not future.done():
                        future.set_exception(error)
                continue
            if touch is not None:
                self.server_pk = server_pk
            for (_, future), pk in zip(batch.creates, pks, strict=True):
                if future.done():
                    continue
                if isinstance(pk, Exception):
                    future.set_exception(pk)
                else:
                    future.set_result(pk)
            for _, delete_future in batch.deletes:
                if delete_future.done():
                    continue
                if isinstance(deleted, Exception):
                    delete_future.set_exception(deleted)
                else:
                    delete_future.set_result(None)


def write_rows(
    creates: list[dict[str, Any]],
    deletes: list[int],
    server_pk: int | None,
    touch: Callable[[], int] | None = None,
) -> tuple[int | None, list[Created | Exception], Exception | None]:
    """Insert ``creates`` and delete ``deletes`` in one transaction, after ``touch``.

    Returns the process row's pk (``touch``'s, if given), each insert's pk or
    error, and the deletes' error. If the batch fails as a whole, each insert
    is retried alone, so that one row that cannot be written (a duplicate
    channel name) costs no other login. A failing ``touch`` raises.
    """
    try:
        with transaction.atomic():
            if touch is not None:
                server_pk = touch()
            pks: list[Created | Exception] = list(_insert(creates, server_pk))
            _delete(deletes)
        return server_pk, pks, None
    except Exception:
        if touch is None and len(creates) + bool(deletes) <= 1:
            raise
    if touch is not None:
        with transaction.atomic():
            server_pk = touch()
    alone: list[Created | Exception] = []
    for fields in creates:
        try:
            with transaction.atomic():
                alone.extend(_insert([fields], server_pk))
        except Exception as error:
            alone.append(error)
    try:
        _delete(deletes)
    except Exception as error:
        return server_pk, alone, error
    return server_pk, alone, None


def _insert(creates: list[dict[str, Any]], server_pk: int | None) -> list[Created]:
    from appws.models import App, LiveSession

    if not creates:
        return []
    names = {fields["app_name"] for fields in creates}
    # One look-up for the batch: App rows (if any; settings Apps may have none) by name.
    app_pks = dict(App.objects.filter(name__in=names).values_list("name", "pk"))
    users = _users({fields.get(LOOK_UP_USER) or "" for fields in creates} - {""})
    now = timezone.now()
    rows: list[Any] = []
    found: list[Any] = []
    for given in creates:
        fields = dict(given)
        name = fields.pop(LOOK_UP_USER, None)
        if name is not None:
            fields["user"] = users.get(name)
        found.append(fields.get("user") if name is not None else None)
        fields["server_id"] = server_pk
        rows.append(
            LiveSession(
                connected_at=now,
                last_activity=now,
                app_id=app_pks.get(fields["app_name"]),
                **fields,
            )
        )
    if connection.features.can_return_rows_from_bulk_insert:
        LiveSession.objects.bulk_create(rows)
    else:  # MySQL, MariaDB < 10.5: no primary keys back from a bulk insert
        for row in rows:
            row.save(force_insert=True)
    return [(int(row.pk), user) for row, user in zip(rows, found, strict=True)]


def _users(names: set[str]) -> dict[str, Any]:
    """The active users of these names, in one query (as ``default_user`` finds each)."""
    if not names:
        return {}
    model = get_user_model()
    field = model.USERNAME_FIELD
    users = model._default_manager.filter(**{f"{field}__in": names, "is_active": True})
    found: dict[str, Any] = {}
    # ``first()``'s order: a USERNAME_FIELD that is not unique finds the same user.
    for user in users if users.ordered else users.order_by("pk"):
        found.setdefault(getattr(user, field), user)
    return found


def _delete(pks: list[int]) -> None:
    from appws.models import LiveSession

    if pks:
        LiveSession.objects.filter(pk__in=pks).delete()

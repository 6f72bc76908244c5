"""Live-session rows are written in batches: statements and commits per login."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from asgiref.sync import SyncToAsync, sync_to_async
from channels.db import database_sync_to_async
from django.contrib.auth.models import User
from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.db.backends import utils
from django.utils import timezone

from appws import live_rows, live_sessions
from appws.live_rows import RowWriter
from appws.models import LiveSession, ServerProcess

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def statements(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Every SQL query run, from whichever thread (the database thread's too).

    Transaction control (SQLite's ``BEGIN``) is left out: other databases send none.
    """
    seen: list[str] = []
    execute = utils.CursorWrapper.execute

    def counting(self: Any, sql: str, params: Any = None) -> Any:
        if sql.split()[0] in ("SELECT", "INSERT", "UPDATE", "DELETE"):
            seen.append(sql)
        return execute(self, sql, params)

    monkeypatch.setattr(utils.CursorWrapper, "execute", counting)
    yield seen


def _server() -> int:
    now = timezone.now()
    return int(
        ServerProcess.objects.create(
            ident="h:1:x", hostname="h", pid=1, started=now, last_seen=now
        ).pk
    )


def _fields(n: int) -> dict[str, Any]:
    return {"channel_name": f"chan!{n}", "app_name": "notes", "sip": f"user{n}", "groups": []}


async def test_logins_waiting_together_share_one_insert(statements):
    writer = RowWriter()
    writer.server_pk = await sync_to_async(_server)()
    statements.clear()
    created = await asyncio.gather(*(writer.create(_fields(n)) for n in range(5)))
    # The batch's App look-up and its one INSERT; not a look-up and an insert per login.
    assert [sql.split()[0] for sql in statements] == ["SELECT", "INSERT"]
    pks = [pk for pk, _user in created]
    assert len(set(pks)) == 5
    assert await LiveSession.objects.filter(pk__in=pks).acount() == 5
    statements.clear()
    await asyncio.gather(*(writer.delete(pk) for pk in pks))
    assert [sql.split()[0] for sql in statements] == ["DELETE"]
    assert not await LiveSession.objects.aexists()


async def test_a_row_that_cannot_be_written_costs_no_other_login():
    writer = RowWriter()
    writer.server_pk = await sync_to_async(_server)()
    first, _user = await writer.create(_fields(1))
    results = await asyncio.gather(
        writer.create(_fields(1)),  # the same channel name: refused by the unique index
        writer.create(_fields(2)),
        return_exceptions=True,
    )
    assert isinstance(results[0], Exception)
    assert isinstance(results[1], tuple)
    rows = {row.sip async for row in LiveSession.objects.all()}
    assert rows == {"user1", "user2"}
    assert first != results[1][0]


async def test_a_login_after_the_heartbeat_stopped_costs_no_extra_hop(
    connect, settings, statements
):
    settings.APPWS = {**settings.APPWS, "TRACK_SESSIONS": True}
    first = await connect(login=("notes", "notes-secret"), sip="first")
    await first.disconnect()
    assert live_sessions._registry.task is None  # the process held nothing: it stopped beating
    statements.clear()
    second = await connect(login=("notes", "notes-secret"), sip="second")
    on_process = [sql for sql in statements if "appws_serverprocess" in sql]
    # The process row is touched in the login's own transaction: one UPDATE, no
    # get_or_create (a SELECT and an UPDATE on a hop of their own).
    assert [sql.split()[0] for sql in on_process] == ["UPDATE"]
    assert [row.sip async for row in LiveSession.objects.all()] == ["second"]
    await second.disconnect()


async def test_a_login_after_its_process_row_went_makes_a_new_one(connect, settings):
    settings.APPWS = {**settings.APPWS, "TRACK_SESSIONS": True}
    first = await connect(login=("notes", "notes-secret"), sip="first")
    await first.disconnect()
    await ServerProcess.objects.all().adelete()  # swept while idle, or deleted by hand
    second = await connect(login=("notes", "notes-secret"), sip="second")
    row = await LiveSession.objects.select_related("server").aget()
    assert row.sip == "second"
    assert row.server.ident == live_sessions.PROCESS_IDENT
    await second.disconnect()


@pytest.fixture
def hops(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The name of every function run in a thread (sync_to_async, database_sync_to_async)."""
    seen: list[str] = []
    handler = SyncToAsync.thread_handler

    def counting(
        self: Any, loop: Any, exc_info: Any, task_context: Any, func: Any, *a: Any, **k: Any
    ) -> Any:
        seen.append(getattr(func, "__qualname__", repr(func)))
        return handler(self, loop, exc_info, task_context, func, *a, **k)

    monkeypatch.setattr(SyncToAsync, "thread_handler", counting)
    yield seen


async def test_a_tracked_login_finds_its_user_in_the_hop_of_its_row(
    connect, settings, statements, hops
):
    settings.APPWS = {**settings.APPWS, "TRACK_SESSIONS": True, "MAP_USERS": True}
    user = await sync_to_async(User.objects.create_user)("erin")
    first = await connect(login=("notes", "notes-secret"), sip="first")  # the heartbeat beats
    comm = await connect()
    statements.clear()
    hops.clear()
    assert (await comm.login("notes", "notes-secret", sip="erin"))["ok"] is True
    # One hop and one transaction for the user, the App row and the session's row:
    # not a hop for the user and another one for the row.
    assert len(hops) == 1, hops
    assert [sql.split()[0] for sql in statements] == ["SELECT", "SELECT", "INSERT"]
    row = await LiveSession.objects.aget(sip="erin")
    assert row.user_id == user.pk
    await comm.disconnect()
    await first.disconnect()


@pytest.fixture
def opened(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[object]]:
    """Every database connection opened, from whichever thread."""
    seen: list[object] = []
    wrapper = type(connections[DEFAULT_DB_ALIAS])  # the engine's own class
    get_new_connection = wrapper.get_new_connection

    def counting(self: Any, params: Any) -> Any:
        seen.append(self)
        return get_new_connection(self, params)

    monkeypatch.setattr(wrapper, "get_new_connection", counting)
    yield seen


def _thread_connection_open() -> bool:
    return connection.connection is not None


def _sqlite() -> bool:
    return bool(connection.vendor == "sqlite")


async def test_batches_that_follow_one_another_share_one_connection(opened, monkeypatch):
    writer = RowWriter()
    writer.server_pk = await sync_to_async(_server)()
    await database_sync_to_async(_thread_connection_open)()  # closed after it (CONN_MAX_AGE 0)
    entered, go = threading.Event(), threading.Event()
    write = live_rows.write_rows

    def held_first(*args: Any) -> Any:
        if not entered.is_set():
            entered.set()
            go.wait(timeout=30)
        return write(*args)

    monkeypatch.setattr(live_rows, "write_rows", held_first)
    opened.clear()
    first = asyncio.ensure_future(writer.create(_fields(0)))
    await asyncio.to_thread(entered.wait, 30)  # the first batch is being written
    # Logins arriving meanwhile: they wait, then make the second batch. Tasks run
    # in the order they were made, so all four are waiting before the first goes on.
    rest = [asyncio.ensure_future(writer.create(_fields(n))) for n in range(1, 5)]

    async def release() -> None:
        go.set()

    await asyncio.gather(first, *rest, release())
    # Django's CONN_MAX_AGE = 0 around each batch would open a connection per batch.
    assert len(opened) == 1
    assert await LiveSession.objects.acount() == 5


async def test_a_sqlite_connection_is_kept_between_logins_one_at_a_time(opened):
    writer = RowWriter()
    writer.server_pk = await sync_to_async(_server)()
    await database_sync_to_async(_thread_connection_open)()
    opened.clear()
    # A login, its close, the next login: three batches, nothing waiting in between.
    first, _user = await writer.create(_fields(1))
    await writer.delete(first)
    await writer.create(_fields(2))
    # SQLite: kept while idle (it holds no lock, no server's slot); a server's
    # connection only while more rows are waiting, so here one per batch.
    assert len(opened) == (1 if _sqlite() else 3)
    assert [row.sip async for row in LiveSession.objects.all()] == ["user2"]


async def test_a_kept_connection_is_given_back_by_djangos_rules(opened):
    writer = RowWriter()
    writer.server_pk = await sync_to_async(_server)()
    await writer.create(_fields(1))
    assert await sync_to_async(_thread_connection_open)() == _sqlite()
    await writer.connection.give_back()  # what KEEP_SECONDS without a batch does
    # CONN_MAX_AGE = 0: closed, as after any other database_sync_to_async call.
    assert not await sync_to_async(_thread_connection_open)()
    opened.clear()
    await writer.create(_fields(2))
    assert len(opened) == 1


async def test_a_kept_connection_that_is_no_longer_usable_is_replaced(opened, monkeypatch):
    writer = RowWriter()
    writer.server_pk = await sync_to_async(_server)()
    await writer.create(_fields(1))
    opened.clear()
    # A PostgreSQL connection the server dropped while it was kept, say.
    wrapper = type(connections[DEFAULT_DB_ALIAS])
    monkeypatch.setattr(wrapper, "is_usable", lambda self: False)
    await writer.create(_fields(2))
    assert len(opened) == 1
    assert {row.sip async for row in LiveSession.objects.all()} == {"user1", "user2"}

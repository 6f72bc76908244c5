"""Apps from the database under a storm of logins: one read per App, not one per login."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.core.cache import caches
from django.core.cache.backends.locmem import LocMemCache

from appws import accounts
from appws.accounts import load_app
from appws.cache import process_cache
from appws.models import App

pytestmark = pytest.mark.django_db(transaction=True)

NAME = "dbnotes"  # served at /apps/dbnotes (tests/services.py)


def make_app() -> None:
    app = App(name=NAME, title="Storm")
    app.set_password("storm-secret")
    app.save()


@pytest.fixture
async def app_row() -> None:
    await sync_to_async(make_app)()
    await sync_to_async(caches["default"].clear)()
    await sync_to_async(process_cache().clear)()


def count_reads(monkeypatch: pytest.MonkeyPatch, before: Any = None) -> list[str]:
    """Record each database read of an App; ``before(name)`` runs first, in its thread."""
    reads: list[str] = []
    read = accounts._database_row

    def counted(name: str) -> Any:
        reads.append(name)
        if before is not None:
            before(name)
        return read(name)

    monkeypatch.setattr(accounts, "_database_row", counted)
    return reads


async def test_logins_missing_the_cache_at_once_share_one_database_read(
    app_row: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    reads = count_reads(monkeypatch)
    found = await asyncio.gather(*(load_app(NAME) for _ in range(50)))
    assert {account.name for account in found if account is not None} == {NAME}
    assert reads == [NAME]
    # Once cached, later logins read no row at all.
    assert (await load_app(NAME)) is not None
    assert reads == [NAME]


async def test_a_login_that_gives_up_does_not_end_the_read_others_wait_for(
    app_row: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    loop = asyncio.get_running_loop()
    reading, go_on = asyncio.Event(), threading.Event()

    def hold(name: str) -> None:
        loop.call_soon_threadsafe(reading.set)
        go_on.wait(10)

    reads = count_reads(monkeypatch, hold)
    leaving = asyncio.ensure_future(load_app(NAME))
    staying = asyncio.ensure_future(load_app(NAME))
    await reading.wait()  # both wait for the one read now
    leaving.cancel()
    go_on.set()
    account = await staying
    assert account is not None and account.name == NAME
    with pytest.raises(asyncio.CancelledError):
        await leaving
    assert reads == [NAME]


async def test_a_failed_read_fails_its_waiters_and_the_next_login_reads_again(
    app_row: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    failures = [RuntimeError("the database went away")]

    def fail_once(name: str) -> None:
        if failures:
            raise failures.pop()

    reads = count_reads(monkeypatch, fail_once)
    outcomes = await asyncio.gather(load_app(NAME), load_app(NAME), return_exceptions=True)
    assert [type(outcome) for outcome in outcomes] == [RuntimeError, RuntimeError]
    account = await load_app(NAME)
    assert account is not None and account.name == NAME
    assert reads == [NAME, NAME]


async def test_a_cached_app_is_read_on_the_event_loops_thread(
    app_row: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Not on the thread-sensitive thread, where every session's database work queues:
    # a storm of logins would wait behind it for a dictionary look-up (LocMemCache).
    assert (await load_app(NAME)) is not None  # now cached
    backend = process_cache()
    assert isinstance(backend, LocMemCache)
    threads: list[int] = []
    get = backend.get

    def recorded(*args: Any, **kwargs: Any) -> Any:
        threads.append(threading.get_ident())
        return get(*args, **kwargs)

    monkeypatch.setattr(backend, "get", recorded)
    assert (await load_app(NAME)) is not None
    assert threads == [threading.get_ident()]


async def test_a_crowd_of_logins_to_a_cached_app_never_waits_for_a_throttle_slot(
    app_row: None, connect: Any, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # All from one address (a PBX's reverse proxy, a NAT), more at once than the
    # throttle has slots: each takes one and gives it back within one turn of the loop.
    from appws import protocol
    from appws.server import throttle

    settings.APPWS = {**settings.APPWS, "LOGIN_FAILURE_LIMIT": 2}
    first = await connect("/apps/dbnotes")
    assert (await first.login(NAME, "storm-secret"))["ok"] is True  # the App is cached now
    attempts: list[str] = []
    window = throttle._current_window

    async def counted(key: str, length: float) -> Any:
        attempts.append(key)  # once per try to take a slot: twice for a login that waited
        return await window(key, length)

    monkeypatch.setattr(throttle, "_current_window", counted)
    comms = [await connect("/apps/dbnotes") for _ in range(20)]
    logins = []
    for comm in comms:
        challenge = (await comm.request({"mt": "AppChallenge"}))["challenge"]
        login = {"mt": "AppLogin", "app": NAME}
        login["digest"] = protocol.login_digest(login, challenge, "storm-secret")
        logins.append(login)
    for comm, login in zip(comms, logins, strict=True):
        await comm.send_json_to(login)
    results = [await comm.receive_json_from(5) for comm in comms]
    assert [result["ok"] for result in results] == [True] * 20
    assert len(attempts) == 20

from __future__ import annotations

import inspect
import os
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.core.cache import cache
from django.db import connections

from appws.pbx import targets
from appws.testing import AppwsCommunicator, PostgresServer
from tests.databases import postgres_settings, switch_default
from tests.suite_db import ON_POSTGRES

CI = os.environ.get("CI", "").lower() == "true"


def require_tool(name: str, package: str) -> str:
    """Return the path of ``name``; skip (fail under CI=true) when it is missing."""
    found = shutil.which(name)
    if found is None:
        message = f"{name} is required: apt-get install -y {package}"
        if CI:
            pytest.fail(message)
        pytest.skip(message)
    return found


@pytest.fixture(autouse=True)
def _isolation(request: pytest.FixtureRequest) -> Iterator[None]:
    # Async tests get their clean-up inside their event loop; sync tests (the
    # browser tests drive Playwright's sync API) must run with no loop at all.
    if inspect.iscoroutinefunction(request.function):
        request.getfixturevalue("_async_isolation")
    yield
    cache.clear()
    # appws.pbx keeps the PBX it chose per process: the next test's rows are others.
    targets.forget()


@pytest.fixture
async def _async_isolation() -> AsyncIterator[None]:
    yield
    layer = get_channel_layer()
    if layer is not None and hasattr(layer, "flush"):
        await layer.flush()
    # A database test leaves a connection open in asgiref's sync thread; a later
    # test without database access would trip over it when Channels closes old
    # connections on disconnect.
    await sync_to_async(connections.close_all)()
    # Login throttling and App caching live in the cache.
    await cache.aclear()


Connect = Callable[..., Awaitable[AppwsCommunicator]]


@pytest.fixture
async def connect() -> AsyncIterator[Connect]:
    """Open communicators to the test services; all are closed after the test."""
    from tests.services import application

    opened: list[AppwsCommunicator] = []

    async def open_one(
        path: str = "/apps/notes", login: tuple[str, str] | None = None, **login_fields: object
    ) -> AppwsCommunicator:
        comm = AppwsCommunicator(application, path)
        opened.append(comm)
        connected, _ = await comm.connect()
        assert connected
        comm._appws_connected = True
        if login is not None:
            result = await comm.login(*login, **login_fields)
            assert result["ok"] is True, result
        return comm

    yield open_one
    for comm in opened:
        await comm.disconnect()


def require_postgres(*, durable: bool = False) -> PostgresServer:
    """A PostgreSQL server not started yet; skip (fail under CI=true) when none is installed."""
    try:
        return PostgresServer(durable=durable)
    except FileNotFoundError as error:
        message = f"PostgreSQL is required: {error}"
        if CI:
            pytest.fail(message)
        pytest.skip(message)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A PostgreSQL server for the session (see :func:`require_postgres`)."""
    with require_postgres() as server:
        yield server


@pytest.fixture(scope="module", params=["postgresql"] if ON_POSTGRES else ["sqlite", "postgresql"])
def database(
    request: pytest.FixtureRequest, django_db_setup: None, django_db_blocker: Any
) -> Iterator[str]:
    """Run a module's tests twice: on SQLite, then with ``default`` on PostgreSQL.

    Use it with ``pytestmark = pytest.mark.usefixtures("database")`` (the tests keep
    their ``django_db`` marks); it yields the vendor name. With ``APPWS_TEST_DB=postgres``
    the whole suite is on PostgreSQL already: then they run once, there.
    """
    if request.param == "sqlite" or ON_POSTGRES:
        yield request.param
        return
    server = request.getfixturevalue("postgres_server")
    with django_db_blocker.unblock():
        config = postgres_settings(server)
    with switch_default(config):
        yield "postgresql"

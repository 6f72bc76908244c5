"""The PBX's users replicated end to end: daphne, ``appws.testing.FakePbx``, a real database.

The service (``PbxUsersService`` in tests/e2e/pbx_service.py) only sets
``replicate_users = True``. What the replication wrote is read from the server's
database directly (SQLite, then PostgreSQL), and its admin over HTTP as a superuser.
Each test has a PBX of its own, so their users never mix.
"""

from __future__ import annotations

import asyncio
import http.cookiejar
import re
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from appws.testing import FakePbx
from appws.testing.fakepbx import new_user, row_of_wrong_types
from tests.e2e.daphne import DaphneProcess, manage, services_server
from tests.e2e.databases import e2e_database, e2e_rows
from tests.suite_db import ON_POSTGRES

pytestmark = pytest.mark.e2e

WAIT = 60  # s: a bound for another process's writes; nothing measures speed
ADMIN = ("boss", "admin-e2e-password")


class Database:
    """The server's database (an :func:`e2e_database`), read from the test."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.vendor = "postgresql" if "://" in url else "sqlite"

    def query(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        return e2e_rows(self.url, sql, params)

    def tables(self) -> list[str]:
        if self.vendor == "sqlite":
            found = self.query("SELECT name FROM sqlite_master WHERE type = 'table'")
        else:
            found = self.query("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        return [name for (name,) in found]

    def every_value(self) -> Iterator[str]:
        """Every value of every column of every table, as text."""
        for table in self.tables():
            for row in self.query(f'SELECT * FROM "{table}"'):
                yield from (str(value) for value in row)

    def replica(self, pbx: str) -> dict[str, Any]:
        columns = ("running", "copy_done", "generation", "completed_generation", "skipped_rows")
        found = self.query(f"SELECT {', '.join(columns)} FROM appws_pbxreplica WHERE pbx = %s", pbx)
        if not found:
            return {}
        state = dict(zip(columns, found[0], strict=True))
        # SQLite has no booleans: 0 and 1.
        return state | {"running": bool(state["running"]), "copy_done": bool(state["copy_done"])}

    def users(self, pbx: str) -> dict[str, str]:
        """h323 -> cn of ``pbx``'s users."""
        rows = self.query(
            "SELECT u.h323, u.cn FROM appws_pbxuser u "
            "JOIN appws_pbxreplica r ON u.replica_id = r.id WHERE r.pbx = %s",
            pbx,
        )
        return dict(rows)

    async def until(self, check: Callable[[], bool], what: str) -> None:
        """Poll until ``check()`` holds (another process writes it)."""
        deadline = time.monotonic() + WAIT
        while not await asyncio.to_thread(check):
            assert time.monotonic() < deadline, f"not within {WAIT} s: {what}"
            await asyncio.sleep(0.1)  # polling another process's database


@pytest.fixture(scope="module", params=["postgresql"] if ON_POSTGRES else ["sqlite", "postgresql"])
def site(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[DaphneProcess, Database]]:
    """The test services under daphne, on SQLite and then on PostgreSQL; a superuser."""
    directory = tmp_path_factory.mktemp("pbxusers")
    if request.param == "postgresql":
        url = e2e_database(directory, request.getfixturevalue("postgres_server"))
    else:
        url = e2e_database(directory)
    with services_server(url) as server:
        env = {
            "DJANGO_SETTINGS_MODULE": "tests.e2e.settings",
            "APPWS_DEMO_DB": url,
            "DJANGO_SUPERUSER_PASSWORD": ADMIN[1],
        }
        manage(env, "createsuperuser", "--noinput", "--username", ADMIN[0], "--email", "b@x.org")
        yield server, Database(url)


def make_pbx(server: DaphneProcess, pbx: str, users: list[dict[str, Any]]) -> FakePbx:
    return FakePbx(
        f"{server.url}/apps/pbxusers",
        password="pbxusers",
        sip="pbxusers-obj",
        pbx=pbx,
        apis=["PbxTableUsers"],
        users=users,
        timeout=WAIT,
    )


class Admin:
    """The site's admin over HTTP, logged in as the superuser."""

    def __init__(self, server: DaphneProcess) -> None:
        self.base = server.http_url
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
        )
        form = self.get("/admin/login/")
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form)
        assert token is not None, form[:500]
        body = urllib.parse.urlencode(
            {
                "csrfmiddlewaretoken": token.group(1),
                "username": ADMIN[0],
                "password": ADMIN[1],
                "next": "/admin/",
            }
        ).encode()
        page = self.opener.open(f"{self.base}/admin/login/", body, timeout=WAIT).read().decode()
        assert "Log out" in page or "logout" in page, page[:500]

    def get(self, path: str) -> str:
        with self.opener.open(f"{self.base}{path}", timeout=WAIT) as response:
            text: str = response.read().decode()
            return text


async def test_copy_then_live_changes_reach_the_database_and_the_admin(site):
    server, db = site
    pbx_name = "pbx-live"
    users = [new_user(f"user{n}", e164=str(1000 + n)) for n in range(1997)]
    renamee, doomed = new_user("renamee"), new_user("doomed")
    users += [renamee, doomed, new_user("mailer", emails=[{"email": "Mailer@Example.com"}])]
    secrets = [row["pwd"] for row in users]
    pbx = make_pbx(server, pbx_name, users)
    bad = row_of_wrong_types()
    pbx.inject_row(bad)
    secrets.append(bad["pwd"])
    async with pbx:
        await db.until(lambda: db.replica(pbx_name).get("copy_done") is True, "the copy done")
        assert len(db.users(pbx_name)) == 2000
        assert db.replica(pbx_name)["skipped_rows"] == 1
        newbie = await pbx.add_user("newbie", cn="New Person")
        secrets.append(newbie["pwd"])
        await pbx.update_user(renamee["guid"], cn="Renamed Person")
        await pbx.delete_user(doomed["guid"])
        await db.until(lambda: "doomed" not in db.users(pbx_name), "the delete applied")
        found = db.users(pbx_name)
        assert found["newbie"] == "New Person" and found["renamee"] == "Renamed Person"
        assert len(found) == 2000

        admin = Admin(server)
        assert ">newbie<" in admin.get("/admin/appws/pbxuser/?q=newbie")
        assert "Renamed Person" in admin.get("/admin/appws/pbxuser/?q=renamee")
        assert "0 results" in admin.get("/admin/appws/pbxuser/?q=doomed")
        assert ">mailer<" in admin.get("/admin/appws/pbxuser/?q=mailer%40example.com")
        [(pk,)] = db.query("SELECT id FROM appws_pbxuser WHERE h323 = %s", "renamee")
        pages = [
            admin.get(f"/admin/appws/pbxuser/{pk}/change/"),
            admin.get("/admin/appws/pbxuser/?q=renamee"),
            admin.get("/admin/appws/pbxreplica/"),
        ]
        assert "Renamed Person" in pages[0]
    values = list(db.every_value())
    assert any("Renamed Person" in value for value in values)  # the dump does see the rows
    log = "\n".join(server.output)
    for secret in secrets:
        assert not any(secret in value for value in values), "a pwd is in the database"
        assert secret not in log, "a pwd is in the log"
        assert not any(secret in page for page in pages), "a pwd is on an admin page"
    assert not any('"pwd"' in value for value in values)
    assert "skipped the user row with guid" in log


async def test_a_reconnect_removes_the_users_deleted_meanwhile(site):
    server, db = site
    pbx_name = "pbx-again"
    users = [new_user(f"again{n}") for n in range(20)]
    pbx = make_pbx(server, pbx_name, users)
    await pbx.open()
    await db.until(lambda: db.replica(pbx_name).get("copy_done") is True, "the first copy")
    await pbx.drop()
    for row in users[:3]:  # deleted while the PBX is away: no ReplicateDel reaches appws
        await pbx.delete_user(row["guid"])
    await pbx.open()
    await db.until(lambda: db.replica(pbx_name)["completed_generation"] == 2, "the second copy")
    assert sorted(db.users(pbx_name)) == sorted(row["h323"] for row in users[3:])
    await pbx.close()


async def test_an_interrupted_copy_deletes_nothing(site):
    server, db = site
    pbx_name = "pbx-cut"
    users = [new_user(f"cut{n}") for n in range(30)]
    pbx = make_pbx(server, pbx_name, users)
    await pbx.open()
    await db.until(lambda: db.replica(pbx_name).get("copy_done") is True, "the first copy")
    await pbx.close()
    for row in users[:10]:
        await pbx.delete_user(row["guid"])
    pbx.drop_after_rows(5)
    await pbx.open()
    await pbx.wait_closed()
    await db.until(
        lambda: db.replica(pbx_name)["generation"] == 2 and not db.replica(pbx_name)["running"],
        "the second copy begun and stopped",
    )
    state = db.replica(pbx_name)
    assert (state["copy_done"], state["generation"], state["completed_generation"]) == (
        False,
        2,
        1,
    )
    assert len(db.users(pbx_name)) == 30  # nothing swept
    await pbx.open()  # a whole copy again: now the ten go
    await db.until(lambda: db.replica(pbx_name)["completed_generation"] == 3, "the third copy")
    assert sorted(db.users(pbx_name)) == sorted(row["h323"] for row in users[10:])
    await pbx.close()

"""App passwords, stored tokens, digests and session keys never show up where they must not.

Every log record (all loggers, level DEBUG) and every reply or page produced while
logging in, checking logins, issuing logins and using the admin is searched for the
secrets involved. The database holds no password in clear, in any table.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth.models import Permission, User
from django.core.cache import cache
from django.db import connection
from django.test import Client

from appws import protocol
from appws.models import App
from appws.testing import AppwsCommunicator
from tests.services import application

pytestmark = pytest.mark.django_db(transaction=True)

SETTINGS_PASSWORD = "notes-secret"  # tests/settings.py, App "notes"
DB_PASSWORD = "Db-pa55word-never-shown"
NEW_DB_PASSWORD = "Db-pa55word-changed-later"
CHALLENGE = "0123456789abcdef"


class Recording(AppwsCommunicator):
    """A communicator that keeps the text of every frame the server sent."""

    def __init__(self, path: str) -> None:
        super().__init__(application, path)
        self.frames: list[str] = []

    async def receive_output(self, timeout: float = 1) -> Any:
        output = await super().receive_output(timeout)
        if output.get("text") is not None:
            self.frames.append(output["text"])
        return output


class Secrets:
    """The secrets of one test, and where they must not appear."""

    def __init__(self) -> None:
        self.values: dict[str, str] = {}

    def add(self, name: str, value: str) -> None:
        assert value, name
        self.values[name] = value

    def found_in(self, texts: Iterable[str], *, allowed: Iterable[str] = ()) -> list[str]:
        skip = set(allowed)
        found = []
        for text in texts:
            for name, value in self.values.items():
                if name not in skip and value in text:
                    found.append(f"{name} in {text[:200]!r}")
        return found


def capture_everything(caplog: pytest.LogCaptureFixture) -> None:
    """Capture records of every level: the root logger, and the loggers that set their own
    level (Django's default logging puts "django" at INFO)."""
    for name in (None, "django", "appws", "channels", "daphne", "asyncio"):
        caplog.set_level(logging.DEBUG, logger=name)


def log_texts(caplog: pytest.LogCaptureFixture) -> list[str]:
    """Every captured record: formatted with its traceback, its message, all its attributes."""
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    texts = []
    for record in caplog.records:
        texts.append(formatter.format(record))
        texts.append(repr(record.args))
        texts.append(repr(vars(record)))
    return texts


def logged(caplog: pytest.LogCaptureFixture) -> str:
    return "\n".join(record.getMessage() for record in caplog.records)


async def log_in(
    comm: Recording, app: str, password: str, **fields: Any
) -> tuple[dict[str, Any], str, str]:
    """A login done by hand: return the result, the digest sent and the session key."""
    connected, _ = await comm.connect()
    assert connected
    await comm.send_json_to({"mt": "AppChallenge"})
    challenge = (await comm.receive_json_from())["challenge"]
    message = {"mt": "AppLogin", "app": app, "sip": "alice", **fields}
    digest = protocol.login_digest(message, challenge, password)
    await comm.send_json_to({**message, "digest": digest})
    result = await comm.receive_json_from()
    return result, digest, protocol.session_key(challenge, password)


async def closed(comm: Recording) -> int:
    output = await comm.receive_output()
    assert output["type"] == "websocket.close", output
    code: int = output["code"]
    return code


def make_db_app(name: str = "dbnotes", password: str = DB_PASSWORD) -> App:
    app = App(name=name, title="DB Notes")
    app.set_password(password)
    app.save()
    return app


def stored_token(name: str = "dbnotes") -> str:
    token: str = App.objects.get(name=name).password_encrypted
    return token


def database_texts() -> list[str]:
    """Every value in every table, as text."""
    texts = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names(cursor):
            cursor.execute(f'SELECT * FROM "{table}"')  # names from the schema itself
            texts.extend(repr(row) for row in cursor.fetchall())
    return texts


def cached_texts() -> list[str]:
    """Everything in the local-memory cache (the test settings' cache)."""
    store: Mapping[str, bytes] = getattr(cache, "_cache", {})
    return [repr(key) + repr(value) for key, value in store.items()]


@pytest.mark.parametrize("debug_sql", [False, True], ids=["plain", "debug-sql"])
async def test_logins_and_login_checks(caplog, settings, debug_sql):
    """Failed and successful logins (settings App, database App), AppCheckLogin, a change."""
    capture_everything(caplog)
    apps = settings.APPWS["APPS"]
    # Sessions of notes may check notes' password (AppCheckLogin below).
    notes_entry = {**apps["notes"], "check_logins": ["notes"]}
    settings.APPWS = {
        **settings.APPWS,
        "APPS": {**apps, "notes": notes_entry},
        "TRACK_SESSIONS": True,
        "MAP_USERS": True,
    }
    # DEBUG makes Django log every query with its parameters: the token then shows
    # up in the SQL log (documented), the password still never.
    settings.DEBUG = debug_sql
    secrets = Secrets()
    secrets.add("settings password", SETTINGS_PASSWORD)
    secrets.add("database password", DB_PASSWORD)
    secrets.add("new database password", NEW_DB_PASSWORD)
    await sync_to_async(make_db_app)()
    await sync_to_async(User.objects.create_user)("alice")
    secrets.add("stored token", await sync_to_async(stored_token)())
    comms: list[Recording] = []

    def opened(path: str) -> Recording:
        comms.append(Recording(path))
        return comms[-1]

    # Wrong passwords: refused, closed.
    for path, app in (("/apps/notes", "notes"), ("/apps/dbnotes", "dbnotes")):
        comm = opened(path)
        result, digest, _ = await log_in(comm, app, "guessed-wrong")
        assert result["ok"] is False and await closed(comm) == 4401
        secrets.add(f"failed digest for {app}", digest)

    # Right passwords: the sessions work, then AppCheckLogin, right and wrong.
    notes = opened("/apps/notes")
    result, digest, key = await log_in(notes, "notes", SETTINGS_PASSWORD, info={"cn": "A"})
    assert result["ok"] is True
    secrets.add("notes digest", digest)
    secrets.add("notes session key", key)
    for password, ok in ((SETTINGS_PASSWORD, True), ("not-it", False)):
        check = {"app": "notes", "domain": "", "challenge": CHALLENGE}
        check_digest = protocol.login_digest(check, CHALLENGE, password)
        secrets.add(f"AppCheckLogin digest ({ok})", check_digest)
        reply = await notes.request({"mt": "AppCheckLogin", **check, "digest": check_digest})
        assert reply == {"mt": "AppCheckLoginResult", "ok": ok}
    assert (await notes.request({"mt": "Crash"}))["error"] == "internal"

    db = opened("/apps/dbnotes")
    result, digest, key = await log_in(db, "dbnotes", DB_PASSWORD)
    assert result["ok"] is True
    secrets.add("dbnotes digest", digest)
    secrets.add("dbnotes session key", key)
    assert (await db.request({"mt": "ListNotes"}))["mt"] == "ListNotesResult"

    # The password changes under the live session: it is closed ("log in again").
    def change_password() -> str:
        app = App.objects.get(name="dbnotes")
        app.set_password(NEW_DB_PASSWORD)
        app.save()
        return app.password_encrypted

    secrets.add("new stored token", await sync_to_async(change_password)())
    assert await closed(db) == 4401
    for comm in comms:
        await comm.disconnect()

    frames = [frame for comm in comms for frame in comm.frames]
    assert frames and all(isinstance(json.loads(frame), dict) for frame in frames)
    assert secrets.found_in(frames) == []
    tokens = ("stored token", "new stored token") if debug_sql else ()
    assert secrets.found_in(log_texts(caplog), allowed=tokens) == []
    assert "AppLogin refused" in logged(caplog)  # the logs were captured at all
    assert "Traceback" in "".join(log_texts(caplog))  # the Crash handler's, searched too
    if debug_sql:
        # The search does see into the SQL log: there is the token, as documented.
        assert any(leak.startswith("stored token") for leak in secrets.found_in(log_texts(caplog)))
    # Neither the database nor the cache holds a password in clear.
    passwords = Secrets()
    for name in ("settings password", "database password", "new database password"):
        passwords.add(name, secrets.values[name])
    assert passwords.found_in(await sync_to_async(database_texts)()) == []
    assert passwords.found_in(cached_texts()) == []


async def test_the_login_issuer(caplog):
    """POST /appws/login: its answer is a login (with a digest), its logs hold no secret."""
    capture_everything(caplog)
    secrets = Secrets()
    secrets.add("password", DB_PASSWORD)

    def setup() -> tuple[Client, Client, str]:
        app = make_db_app()
        alice = User.objects.create_user("alice")
        alice.user_permissions.add(Permission.objects.get(codename=app.access_codename))
        bob = User.objects.create_user("bob")
        clients = Client(), Client()
        clients[0].force_login(alice)
        clients[1].force_login(bob)
        return clients[0], clients[1], app.password_encrypted

    alice, bob, token = await sync_to_async(setup)()
    secrets.add("stored token", token)
    comm = Recording("/apps/dbnotes")
    connected, _ = await comm.connect()
    assert connected
    challenge = (await comm.request({"mt": "AppChallenge"}))["challenge"]

    def post(client: Client, body: Any) -> Any:
        return client.post("/appws/login", json.dumps(body), content_type="application/json")

    issued = await sync_to_async(post)(alice, {"app": "dbnotes", "challenge": challenge})
    assert issued.status_code == 200
    login = issued.json()
    secrets.add("issued digest", login["digest"])
    refusals = [
        await sync_to_async(post)(bob, {"app": "dbnotes", "challenge": challenge}),
        await sync_to_async(post)(alice, {"app": "dbnotes", "challenge": "\x00"}),
        await sync_to_async(post)(alice, {"app": "nope", "challenge": challenge}),
    ]
    assert [response.status_code for response in refusals] == [403, 400, 404]

    result = await comm.request({"mt": "AppLogin", **login})
    assert result["ok"] is True
    secrets.add("session key", protocol.session_key(challenge, DB_PASSWORD))
    await comm.disconnect()

    pages = [response.content.decode() for response in [issued, *refusals]]
    # The issuer's answer is the login itself: its digest is the one thing it may carry.
    assert secrets.found_in(pages, allowed=["issued digest"]) == []
    assert secrets.found_in(comm.frames) == []
    assert secrets.found_in(log_texts(caplog)) == []
    assert "Login issued" in logged(caplog)


@pytest.fixture
def admin_client_for_apps(db: None) -> Client:
    client = Client()
    client.force_login(User.objects.create_superuser("root", "root@example.com", "x"))
    return client


def test_admin_pages(caplog, admin_client_for_apps):
    """Every admin page of an App: list, add, change (also a failed one), history."""
    capture_everything(caplog)
    client = admin_client_for_apps
    secrets = Secrets()
    secrets.add("password", DB_PASSWORD)
    secrets.add("new password", NEW_DB_PASSWORD)
    secrets.add("added password", "Added-App-pa55word")

    def form(name: str, password: str) -> dict[str, Any]:
        return {
            "name": name,
            "title": "Notes",
            "password": password,
            "enabled": "on",
            "domain": "",
            "info_apis": "{}",
            "service_apis": "{}",
        }

    app = make_db_app()
    secrets.add("stored token", app.password_encrypted)
    change = f"/admin/appws/app/{app.pk}/change/"
    pages = [
        client.get("/admin/appws/app/"),
        client.get("/admin/appws/app/add/"),
        client.get(change),
        client.get("/admin/appws/app/services/"),
        # Refused (invalid name): the form comes back, without the password typed in.
        client.post(change, form("not a valid name!", NEW_DB_PASSWORD)),
        client.post(change, form("dbnotes", NEW_DB_PASSWORD), follow=True),
        client.post("/admin/appws/app/add/", form("added", "Added-App-pa55word"), follow=True),
    ]
    secrets.add("new stored token", stored_token())
    secrets.add("added stored token", stored_token("added"))
    pages += [
        client.get(change),
        client.get(f"/admin/appws/app/{app.pk}/history/"),
        client.get("/admin/appws/app/"),
        client.get("/admin/appws/livesession/"),
        client.get("/admin/"),
    ]
    assert [page.status_code for page in pages] == [200] * len(pages)
    assert "An App name is" in pages[4].content.decode()  # refused, not saved
    assert App.objects.get(pk=app.pk).get_password() == NEW_DB_PASSWORD
    assert App.objects.get(name="added").get_password() == "Added-App-pa55word"

    texts = [page.content.decode() for page in pages]
    assert secrets.found_in(texts) == []
    assert secrets.found_in(log_texts(caplog)) == []
    passwords = Secrets()
    for name in ("password", "new password", "added password"):
        passwords.add(name, secrets.values[name])
    assert passwords.found_in(database_texts()) == []


def test_the_column_holds_tokens_not_passwords(db):
    first = make_db_app("first", DB_PASSWORD)
    second = make_db_app("second", DB_PASSWORD)
    with connection.cursor() as cursor:
        cursor.execute("SELECT name, password_encrypted FROM appws_app ORDER BY name")
        rows = dict(cursor.fetchall())
    assert set(rows) == {"first", "second"}
    for token in rows.values():
        assert DB_PASSWORD not in token
        assert DB_PASSWORD.encode().hex() not in token
    # Random per token: equal passwords do not make equal columns.
    assert rows["first"] != rows["second"]
    assert first.get_password() == second.get_password() == DB_PASSWORD

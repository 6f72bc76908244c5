"""Apps from the database: login, permissions, refresh and withdrawal of live sessions."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth.models import Group, Permission, User

from appws.models import App, LiveSession
from appws.protocol import CloseCode

pytestmark = pytest.mark.django_db(transaction=True)

PATH = "/apps/dbnotes"
PASSWORD = "db-secret"


def make_app(**fields) -> App:
    app = App(name="dbnotes", title="DB Notes", **fields)
    app.set_password(PASSWORD)
    app.save()
    return app


def delete_permission() -> Permission:
    return Permission.objects.get(content_type__app_label="auth", codename="delete_user")


async def login(connect, password=PASSWORD, **fields):
    comm = await connect(PATH)
    result = await comm.login("dbnotes", password, **fields)
    return comm, result


async def assert_closed(comm, code):
    assert await comm.receive_output() == {
        "type": "websocket.close",
        "code": code,
        "reason": comm_reason(code),
    }


def comm_reason(code):
    return {
        CloseCode.APP_WITHDRAWN: "App disabled or removed",
        CloseCode.LOGIN_FAILED: "App password changed: log in again",
        CloseCode.ADMIN_DISCONNECT: "disconnected by an administrator",
    }[code]


async def test_login_with_a_database_app(connect):
    await sync_to_async(make_app)(domain="db.example.com")
    comm, result = await login(connect)
    assert result == {"mt": "AppLoginResult", "ok": True, "domain": "db.example.com"}
    assert (await comm.request({"mt": "ListNotes"}))["notes"] == ["one", "two"]


async def test_an_unreachable_cache_costs_only_a_database_read(connect, monkeypatch):
    # The App cache is a copy of the table: it fails open (the throttle fails closed).
    from django.core.cache import caches

    async def unreachable(*args, **kwargs):
        raise ConnectionRefusedError("the cache's server is down")

    def unreachable_sync(*args, **kwargs):
        raise ConnectionRefusedError("the cache's server is down")

    await sync_to_async(make_app)()
    backend = type(caches["default"])  # every connection to it, in every thread
    monkeypatch.setattr(backend, "aget", unreachable)
    monkeypatch.setattr(backend, "aset", unreachable)
    # A LocMemCache is called directly from the event loop (appws.cache.call): the App
    # cache's backend alone is made unreachable (the throttle's would fail closed).
    unreachable_backend = SimpleNamespace(get=unreachable_sync, set=unreachable_sync)
    monkeypatch.setattr("appws.accounts.process_cache", lambda: unreachable_backend)
    _, result = await login(connect)
    assert result["ok"] is True


async def test_wrong_password_and_disabled_app(connect):
    await sync_to_async(make_app)(enabled=False)
    _comm, result = await login(connect, password="nope")
    assert "wrong digest" in result["errorText"]
    _comm, result = await login(connect)
    assert result["ok"] is False and "disabled" in result["errorText"]


async def test_operation_permissions_come_from_the_app_row(connect):
    app = await sync_to_async(make_app)()
    comm, _ = await login(connect)
    assert (await comm.request({"mt": "DeleteNote", "id": 1}))["error"] == "forbidden"
    await sync_to_async(app.permissions.add)(await sync_to_async(delete_permission)())
    comm2, _ = await login(connect)
    assert (await comm2.request({"mt": "DeleteNote", "id": 1}))["deleted"] == 1


async def test_app_info_from_the_row(connect):
    await sync_to_async(make_app)(
        hidden=True, info_apis={"com.example.notes": {}}, service_apis={"Notes": {}}
    )
    comm, _ = await login(connect)
    assert await comm.request({"mt": "AppInfo", "app": "dbnotes"}) == {
        "mt": "AppInfoResult",
        "info": {"hidden": True, "apis": {"com.example.notes": {}}},
        "serviceInfo": {"apis": {"Notes": {}}},
    }


async def test_revoking_a_permission_reaches_the_live_session(connect, settings):
    settings.APPWS = {**settings.APPWS, "TRACK_SESSIONS": True}
    app = await sync_to_async(make_app)()
    perm = await sync_to_async(delete_permission)()
    await sync_to_async(app.permissions.add)(perm)
    comm, _ = await login(connect)
    assert (await comm.request({"mt": "DeleteNote", "id": 1}))["deleted"] == 1
    await sync_to_async(app.permissions.remove)(perm)
    assert (await comm.request({"mt": "DeleteNote", "id": 1}))["error"] == "forbidden"
    # The session itself lives on.
    assert (await comm.request({"mt": "ListNotes"}))["mt"] == "ListNotesResult"


async def test_disabling_the_app_closes_its_sessions(connect, settings):
    settings.APPWS = {**settings.APPWS, "TRACK_SESSIONS": True}
    app = await sync_to_async(make_app)()
    comm, _ = await login(connect)
    app.enabled = False
    await sync_to_async(app.save)()
    await assert_closed(comm, CloseCode.APP_WITHDRAWN)


async def test_an_app_change_reaches_its_sessions_while_the_cache_is_unreachable(
    connect, settings, monkeypatch
):
    from django.core.cache import caches

    async def unreachable(*args, **kwargs):
        raise ConnectionRefusedError("the cache's server is down")

    settings.APPWS = {**settings.APPWS, "TRACK_SESSIONS": True}
    app = await sync_to_async(make_app)()
    comm, _ = await login(connect)
    backend = type(caches["default"])
    for name in ("aget", "aset", "adelete"):
        monkeypatch.setattr(backend, name, unreachable)
    app.enabled = False
    await sync_to_async(app.save)()
    await assert_closed(comm, CloseCode.APP_WITHDRAWN)


async def test_deleting_the_app_closes_its_sessions(connect, settings):
    settings.APPWS = {**settings.APPWS, "TRACK_SESSIONS": True}
    app = await sync_to_async(make_app)()
    comm, _ = await login(connect)
    await sync_to_async(app.delete)()
    await assert_closed(comm, CloseCode.APP_WITHDRAWN)


async def test_changing_the_password_closes_its_sessions(connect, settings):
    settings.APPWS = {**settings.APPWS, "TRACK_SESSIONS": True}
    app = await sync_to_async(make_app)()
    comm, _ = await login(connect)
    app.set_password("new-secret")
    await sync_to_async(app.save)()
    await assert_closed(comm, CloseCode.LOGIN_FAILED)
    _comm, result = await login(connect, password="new-secret")
    assert result["ok"] is True


async def test_saving_without_changes_keeps_the_session(connect, settings):
    settings.APPWS = {**settings.APPWS, "TRACK_SESSIONS": True}
    app = await sync_to_async(make_app)()
    comm, _ = await login(connect)
    app.title = "Renamed title"
    await sync_to_async(app.save)()
    assert (await comm.request({"mt": "ListNotes"}))["mt"] == "ListNotesResult"


async def test_access_permission_follows_the_app(connect):
    app = await sync_to_async(make_app)()

    def check():
        perm = Permission.objects.get(codename="open_dbnotes")
        assert perm.content_type.app_label == "appws"
        assert app.access_permission_name == "appws.open_dbnotes"
        group = Group.objects.create(name="notetakers")
        group.permissions.add(perm)
        app.name = "dbnotes2"
        app.save()
        perm.refresh_from_db()
        assert perm.codename == "open_dbnotes2"
        assert group.permissions.filter(pk=perm.pk).exists()  # grants survive a rename
        app.delete()
        assert not Permission.objects.filter(pk=perm.pk).exists()

    await sync_to_async(check)()


async def test_user_mapping_and_required_access(connect, settings):
    settings.APPWS = {**settings.APPWS, "MAP_USERS": True, "REQUIRE_USER_ACCESS": True}
    await sync_to_async(make_app)()

    def make_users():
        User.objects.create_user("alice")
        bob = User.objects.create_user("bob")
        group = Group.objects.create(name="notes-users")
        group.permissions.add(Permission.objects.get(codename="open_dbnotes"))
        bob.groups.add(group)

    await sync_to_async(make_users)()
    _comm, result = await login(connect, sip="alice")
    assert result["ok"] is False and "may not open App" in result["errorText"]
    _comm, result = await login(connect, sip="nobody")
    assert result["ok"] is False
    _comm, result = await login(connect, sip="bob")
    assert result["ok"] is True


async def test_handlers_can_require_the_user_to_hold_the_permission(connect, settings):
    settings.APPWS = {**settings.APPWS, "MAP_USERS": True, "REQUIRE_USER_PERMISSIONS": True}
    app = await sync_to_async(make_app)()
    perm = await sync_to_async(delete_permission)()
    await sync_to_async(app.permissions.add)(perm)

    def make_users():
        User.objects.create_user("carol")
        dave = User.objects.create_user("dave")
        dave.user_permissions.add(perm)
        User.objects.create_superuser("root")

    await sync_to_async(make_users)()
    carol, _ = await login(connect, sip="carol")
    reply = await carol.request({"mt": "DeleteNote", "id": 1})
    assert reply["error"] == "forbidden" and "user 'carol'" in reply["errorText"]
    for name in ("dave", "root"):
        comm, _ = await login(connect, sip=name)
        assert (await comm.request({"mt": "DeleteNote", "id": 1}))["deleted"] == 1


async def test_live_session_rows(connect, settings):
    settings.APPWS = {**settings.APPWS, "TRACK_SESSIONS": True, "MAP_USERS": True}
    await sync_to_async(make_app)()
    user = await sync_to_async(User.objects.create_user)("erin")
    comm, _ = await login(connect, sip="erin", domain="example.com", dn="Erin")
    row = await LiveSession.objects.select_related("server", "app", "user").aget()
    assert (row.app_name, row.sip, row.domain, row.dn) == ("dbnotes", "erin", "example.com", "Erin")
    assert row.app.name == "dbnotes" and row.user == user
    assert row.service == "tests.services.DbNotesService"
    assert row.user_label == "erin@example.com"
    await comm.disconnect()
    assert not await LiveSession.objects.aexists()


async def test_admin_disconnect_closes_the_session(connect, settings):
    from appws.live_sessions import disconnect_sessions

    settings.APPWS = {**settings.APPWS, "TRACK_SESSIONS": True}
    await sync_to_async(make_app)()
    comm, _ = await login(connect, sip="frank")
    other, _ = await login(connect, sip="grace")
    told = await sync_to_async(disconnect_sessions)(LiveSession.objects.filter(sip="frank"))
    assert told == 1
    await assert_closed(comm, CloseCode.ADMIN_DISCONNECT)
    assert (await other.request({"mt": "ListNotes"}))["mt"] == "ListNotesResult"


async def test_check_logins_of_a_database_app(connect):
    from appws import protocol

    app = await sync_to_async(make_app)(check_logins=["dbnotes"])
    comm, result = await login(connect)
    assert result["ok"] is True
    fields = {"app": "dbnotes", "domain": ""}
    for password, ok in ((PASSWORD, True), ("guess", False)):
        digest = protocol.login_digest(fields, "42", password)
        reply = await comm.request(
            {"mt": "AppCheckLogin", **fields, "challenge": "42", "digest": digest}
        )
        assert reply == {"mt": "AppCheckLoginResult", "ok": ok}
    # Taking the right away reaches the next check (the App cache is dropped on save).
    app.check_logins = []
    await sync_to_async(app.save)()
    digest = protocol.login_digest(fields, "42", PASSWORD)
    reply = await comm.request(
        {"mt": "AppCheckLogin", **fields, "challenge": "42", "digest": digest}
    )
    assert reply["error"] == "forbidden"


async def test_saving_an_app_while_the_cache_is_unreachable_stores_it_and_tells_sessions(
    connect, settings, monkeypatch
):
    # The ORM's save (the admin, appws_app) drops the cached copy with a sync delete.
    from django.core.cache import caches

    def unreachable(*args, **kwargs):
        raise ConnectionRefusedError("the cache's server is down")

    async def unreachable_async(*args, **kwargs):
        unreachable()

    settings.APPWS = {**settings.APPWS, "TRACK_SESSIONS": True}
    app = await sync_to_async(make_app)()
    comm, _ = await login(connect)
    backend = type(caches["default"])
    monkeypatch.setattr(backend, "delete", unreachable)
    for name in ("aget", "aset", "adelete"):
        monkeypatch.setattr(backend, name, unreachable_async)
    for name in ("get", "set"):  # a LocMemCache is read directly from the event loop
        monkeypatch.setattr(backend, name, unreachable)
    app.enabled = False
    await sync_to_async(app.save)()
    await assert_closed(comm, CloseCode.APP_WITHDRAWN)
    assert not await App.objects.filter(name=app.name, enabled=True).aexists()

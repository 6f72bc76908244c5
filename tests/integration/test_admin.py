"""The admin: Apps with write-only passwords, live sessions, server processes, catalogue."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.contrib.auth.models import Permission, User
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from appws import live_sessions
from appws.layer import events
from appws.models import App, LiveSession, ServerProcess

pytestmark = pytest.mark.django_db

PASSWORD = "Adm1n-pl41n-S3cret"
CHANGELIST = "/admin/appws/app/"
CATALOGUE = "/admin/appws/app/services/"
SESSIONS = "/admin/appws/livesession/"


@pytest.fixture
def superuser() -> User:
    return User.objects.create_superuser("root", "root@example.com", "x")


@pytest.fixture
def admin(superuser: User) -> Client:
    client = Client()
    client.force_login(superuser)
    return client


@pytest.fixture
def staff() -> Client:
    """A staff user holding no permission at all."""
    user = User.objects.create_user("clerk", password="x", is_staff=True)
    client = Client()
    client.force_login(user)
    return client


def make_app(name: str = "notesapp", password: str = PASSWORD, **fields: Any) -> App:
    app = App(name=name, **fields)
    app.set_password(password)
    app.save()
    return app


def form_data(**fields: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": "notesapp",
        "title": "Notes",
        "password": "",
        "enabled": "on",
        "domain": "",
        "info_apis": "{}",
        "service_apis": "{}",
        "permissions": [],
    }
    data.update(fields)
    return {key: value for key, value in data.items() if value is not None}


def make_session(
    app: App | None,
    *,
    stale: bool = False,
    sip: str = "alice",
    channel: str = "",
    user: User | None = None,
    kind: str = "user",
) -> LiveSession:
    now = timezone.now()
    seen = now - timedelta(days=1) if stale else now
    server, _ = ServerProcess.objects.get_or_create(
        ident=f"host-{'stale' if stale else 'live'}:1:x",
        defaults={
            "hostname": f"host-{'stale' if stale else 'live'}",
            "pid": 4242 if stale else 1717,
            "started": seen,
            "last_seen": seen,
        },
    )
    return LiveSession.objects.create(
        channel_name=channel or f"specific.test!{sip}-{stale}",
        server=server,
        app=app,
        app_name=app.name if app else "gone",
        sip=sip,
        domain="example.com",
        dn=f"{sip.title()} Example",
        user=user,
        remote_address="192.0.2.7",
        service="tests.services.NotesService",
        login_kind=kind,
        connected_at=now - timedelta(minutes=5),
        last_activity=now,
    )


# -- Apps ------------------------------------------------------------------


def test_app_changelist_lists_apps_with_live_session_counts(admin: Client) -> None:
    app = make_app(title="Notes", domain="notes.example.com")
    make_session(app, sip="alice")
    make_session(app, sip="bob")
    make_session(app, sip="carol", stale=True)  # its process is gone: not counted
    response = admin.get(CHANGELIST)
    assert response.status_code == 200
    row = next(obj for obj in response.context["cl"].result_list if obj.pk == app.pk)
    assert row.live_session_count == 2
    page = response.content.decode()
    assert "notes.example.com" in page
    assert f'href="{CATALOGUE}"' in page  # the object-tools link to the catalogue


def test_changelist_search_and_filter(admin: Client) -> None:
    make_app("alpha", title="First")
    make_app("beta", title="Second", enabled=False)
    found = admin.get(CHANGELIST, {"q": "second"}).context["cl"].result_list
    assert [app.name for app in found] == ["beta"]
    enabled = admin.get(CHANGELIST, {"enabled__exact": "1"}).context["cl"].result_list
    assert [app.name for app in enabled] == ["alpha"]


def test_add_requires_a_password(admin: Client) -> None:
    response = admin.post(f"{CHANGELIST}add/", form_data())
    assert response.status_code == 200
    assert "password" in response.context["adminform"].form.errors
    assert not App.objects.filter(name="notesapp").exists()


def test_add_stores_the_password_encrypted(admin: Client) -> None:
    delete = Permission.objects.get(codename="delete_user")
    response = admin.post(
        f"{CHANGELIST}add/", form_data(password=PASSWORD, permissions=[delete.pk])
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    app = App.objects.get(name="notesapp")
    assert app.get_password() == PASSWORD
    assert PASSWORD not in app.password_encrypted
    stored = App.objects.filter(pk=app.pk).values_list("password_encrypted", flat=True)[0]
    assert PASSWORD not in stored
    assert app.operation_permissions() == {"auth.delete_user"}
    assert app.access_permission is not None
    assert app.access_permission.codename == "open_notesapp"


def test_add_keeps_spaces_in_passwords(admin: Client) -> None:
    response = admin.post(f"{CHANGELIST}add/", form_data(password=" padded "))
    assert response.status_code == 302
    assert App.objects.get(name="notesapp").get_password() == " padded "


def test_change_without_password_keeps_it(admin: Client) -> None:
    app = make_app()
    token = app.password_encrypted
    response = admin.post(f"{CHANGELIST}{app.pk}/change/", form_data(title="Renamed"))
    assert response.status_code == 302, response.context["adminform"].form.errors
    app.refresh_from_db()
    assert app.title == "Renamed"
    assert app.password_encrypted == token
    assert app.get_password() == PASSWORD


def test_change_with_password_replaces_it(admin: Client) -> None:
    app = make_app()
    response = admin.post(f"{CHANGELIST}{app.pk}/change/", form_data(password="n3w-S3cret"))
    assert response.status_code == 302
    app.refresh_from_db()
    assert app.get_password() == "n3w-S3cret"


def test_info_apis_are_edited_as_json(admin: Client) -> None:
    app = make_app()
    response = admin.post(
        f"{CHANGELIST}{app.pk}/change/",
        form_data(info_apis='{"com.example.Notes": {}}', service_apis="{}"),
    )
    assert response.status_code == 302
    app.refresh_from_db()
    assert app.info_apis == {"com.example.Notes": {}}
    bad = admin.post(f"{CHANGELIST}{app.pk}/change/", form_data(info_apis="{not json"))
    assert bad.status_code == 200
    assert "info_apis" in bad.context["adminform"].form.errors


def test_password_and_token_never_reach_any_page(admin: Client) -> None:
    app = make_app()
    token = app.password_encrypted
    # A change through the admin writes a history entry: it must not hold the value either.
    admin.post(f"{CHANGELIST}{app.pk}/change/", form_data(password=PASSWORD + "2"))
    app.refresh_from_db()
    tokens = {token, app.password_encrypted}
    make_session(app)
    pages = [
        CHANGELIST,
        f"{CHANGELIST}add/",
        f"{CHANGELIST}{app.pk}/change/",
        f"{CHANGELIST}{app.pk}/history/",
        f"{CHANGELIST}{app.pk}/delete/",
        CATALOGUE,
        SESSIONS,
        "/admin/appws/serverprocess/",
        "/admin/",
    ]
    for url in pages:
        response = admin.get(url)
        assert response.status_code == 200, url
        page = response.content.decode()
        for secret in (PASSWORD, PASSWORD + "2", *tokens):
            assert secret not in page, url
    form = admin.get(f"{CHANGELIST}{app.pk}/change/").content.decode()
    assert 'type="password"' in form
    assert "Leave empty to keep the current password" in form


def test_change_page_shows_the_access_permission(admin: Client) -> None:
    app = make_app()
    page = admin.get(f"{CHANGELIST}{app.pk}/change/").content.decode()
    assert "appws.open_notesapp" in page
    assert reverse("admin:auth_user_changelist") in page
    assert reverse("admin:auth_group_changelist") in page
    assert "Grant it to the users and groups" in page
    add_page = admin.get(f"{CHANGELIST}add/").content.decode()
    assert "appws.open_&lt;name&gt;" in add_page


def test_operations_permissions_use_filter_horizontal(admin: Client) -> None:
    app = make_app()
    page = admin.get(f"{CHANGELIST}{app.pk}/change/").content.decode()
    assert 'class="selectfilter"' in page or "SelectFilter" in page


def test_operations_permissions_offer_no_access_permission(admin: Client) -> None:
    app = make_app()
    other = make_app("otherapp")
    page = admin.get(f"{CHANGELIST}{app.pk}/change/")
    offered = set(page.context["adminform"].form.fields["permissions"].queryset)
    assert app.access_permission not in offered and other.access_permission not in offered
    assert any(p.codename == "view_app" for p in offered)  # the others still are


def test_the_add_form_has_no_empty_history(admin: Client) -> None:
    app = make_app()
    assert "History" not in admin.get(f"{CHANGELIST}add/").content.decode()
    assert "History" in admin.get(f"{CHANGELIST}{app.pk}/change/").content.decode()


def test_change_page_warns_when_settings_define_the_app(admin: Client) -> None:
    app = make_app("echo")  # tests/settings.py defines "echo" in APPWS["APPS"]
    page = admin.get(f"{CHANGELIST}{app.pk}/change/").content.decode()
    assert "also defined in the APPWS[&#x27;APPS&#x27;] setting" in page


def test_staff_without_permissions_cannot_see_apps(staff: Client) -> None:
    make_app()
    assert staff.get(CHANGELIST).status_code == 403
    assert staff.get(f"{CHANGELIST}add/").status_code == 403
    assert staff.get(SESSIONS).status_code == 403
    assert staff.get("/admin/appws/serverprocess/").status_code == 403


# -- catalogue -------------------------------------------------------------


def test_catalogue_lists_the_routed_services(admin: Client) -> None:
    response = admin.get(CATALOGUE)
    assert response.status_code == 200
    page = response.content.decode()
    assert "demo_site.services.EchoService" in page
    assert "Answers every message with its own content" in page
    assert "<code>echo</code>" in page
    assert "(settings)" in page  # the echo App's password comes from the settings
    assert "/apps/echo" in page
    assert "<code>Echo</code>" in page
    assert "<code>EchoResult</code>" in page
    assert "Reply with every field of the request but the envelope." in page
    assert "any session" in page
    assert 'id="site-name"' in page  # extends the admin base


def test_catalogue_links_apps_stored_in_the_database(admin: Client, settings: Any) -> None:
    settings.APPWS = {**settings.APPWS, "APPS": {}}
    app = make_app("echo")
    page = admin.get(CATALOGUE).content.decode()
    assert f'href="{CHANGELIST}{app.pk}/change/"' in page
    assert "(database)" in page
    app.delete()
    assert "not configured" in admin.get(CATALOGUE).content.decode()


def test_catalogue_is_open_to_staff_only(staff: Client) -> None:
    response = staff.get(CATALOGUE)
    assert response.status_code == 200
    assert "demo_site.services.EchoService" in response.content.decode()
    anonymous = Client().get(CATALOGUE)
    assert anonymous.status_code == 302
    assert "/admin/login/" in anonymous["Location"]


def test_catalogue_explains_a_missing_asgi_application(admin: Client, settings: Any) -> None:
    del settings.ASGI_APPLICATION
    response = admin.get(CATALOGUE)
    assert response.status_code == 200
    assert "ASGI_APPLICATION setting is not set" in response.content.decode()


# -- live sessions and server processes ----------------------------------------


def test_live_session_list(admin: Client, superuser: User) -> None:
    app = make_app()
    fresh = make_session(app, sip="alice", user=superuser)
    stale = make_session(app, sip="bob", stale=True)
    response = admin.get(SESSIONS)
    assert response.status_code == 200
    rows = {obj.pk: obj for obj in response.context["cl"].result_list}
    assert rows[fresh.pk].is_stale is False
    assert rows[stale.pk].is_stale is True
    page = response.content.decode()
    assert "alice@example.com" in page
    assert "Alice Example" in page
    assert "192.0.2.7" in page
    assert "host-live:1717" in page
    assert "host-stale:4242" in page
    assert "root" in page  # the mapped Django user
    assert 'alt="True"' in page and 'alt="False"' in page  # the stale column
    assert "Disconnect selected sessions" in page
    assert "Add live session" not in page


def test_live_session_list_shows_and_filters_the_login_kind(admin: Client) -> None:
    app = make_app()
    make_session(app, sip="pbx-obj", kind="pbx")
    make_session(app, sip="alice", kind="user")
    page = admin.get(SESSIONS).content.decode()
    assert "PBX (the App object)" in page and "issued for a user" in page
    rows = admin.get(SESSIONS, {"login_kind__exact": "pbx"}).context["cl"].result_list
    assert [row.sip for row in rows] == ["pbx-obj"]


def test_live_session_filter_by_app(admin: Client) -> None:
    make_session(make_app("one"), sip="alice")
    make_session(make_app("two"), sip="bob")
    rows = admin.get(SESSIONS, {"app_name": "two"}).context["cl"].result_list
    assert [row.sip for row in rows] == ["bob"]


def test_live_sessions_are_read_only(admin: Client) -> None:
    session = make_session(make_app())
    assert admin.get(f"{SESSIONS}add/").status_code == 403
    assert admin.get(f"{SESSIONS}{session.pk}/delete/").status_code == 403
    view = admin.get(f"{SESSIONS}{session.pk}/change/")
    assert view.status_code == 200  # a read-only view
    assert 'name="_save"' not in view.content.decode()
    response = admin.post(f"{SESSIONS}{session.pk}/change/", {"sip": "mallory"})
    assert response.status_code == 403
    actions = admin.get(SESSIONS).context["action_form"].fields["action"].choices
    assert [name for name, _ in actions if name] == ["disconnect"]


def test_disconnect_action_calls_disconnect_sessions(admin: Client, monkeypatch: Any) -> None:
    app = make_app()
    chosen = [make_session(app, sip="alice"), make_session(app, sip="bob")]
    make_session(app, sip="carol")
    calls: list[list[int]] = []

    def fake(queryset: Any) -> int:
        calls.append(sorted(queryset.values_list("pk", flat=True)))
        return len(calls[-1])

    monkeypatch.setattr(live_sessions, "disconnect_sessions", fake)
    response = admin.post(
        SESSIONS,
        {"action": "disconnect", "_selected_action": [row.pk for row in chosen]},
        follow=True,
    )
    assert calls == [sorted(row.pk for row in chosen)]
    assert "Disconnected 2 sessions." in response.content.decode()


def test_disconnect_action_reaches_the_consumer(admin: Client) -> None:
    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    app = make_app()
    fresh = make_session(app, sip="alice", channel=channel)
    stale = make_session(app, sip="bob", stale=True)
    response = admin.post(
        SESSIONS,
        {"action": "disconnect", "_selected_action": [fresh.pk, stale.pk]},
        follow=True,
    )
    assert "Disconnected 2 sessions." in response.content.decode()
    assert async_to_sync(layer.receive)(channel) == {"type": events.DISCONNECT}
    assert not LiveSession.objects.filter(pk=stale.pk).exists()  # no connection left


def test_disconnect_needs_the_delete_permission(monkeypatch: Any) -> None:
    user = User.objects.create_user("viewer", password="x", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_livesession"))
    client = Client()
    client.force_login(user)
    session = make_session(make_app())
    response = client.get(SESSIONS)
    assert response.status_code == 200
    assert "Disconnect selected sessions" not in response.content.decode()

    monkeypatch.setattr(
        live_sessions, "disconnect_sessions", lambda queryset: pytest.fail("called")
    )
    client.post(SESSIONS, {"action": "disconnect", "_selected_action": [session.pk]})

    user.user_permissions.add(Permission.objects.get(codename="delete_livesession"))
    allowed = Client()
    allowed.force_login(User.objects.get(pk=user.pk))
    assert "Disconnect selected sessions" in allowed.get(SESSIONS).content.decode()


def test_live_session_times_are_short() -> None:
    from appws.admin.live import short_duration

    assert [short_duration(s) for s in (-5, 0, 59, 60, 3599, 3600, 47 * 3600, 49 * 3600)] == [
        "<1 min", "<1 min", "<1 min", "1 min", "59 min", "1 h", "47 h", "2 d",
    ]  # fmt: skip


def test_server_process_list_is_read_only(admin: Client) -> None:
    session = make_session(make_app())
    response = admin.get("/admin/appws/serverprocess/")
    assert response.status_code == 200
    page = response.content.decode()
    assert "host-live" in page
    assert "Add server process" not in page
    assert response.context["cl"].result_list[0].live_session_count == 1
    assert admin.get(f"/admin/appws/serverprocess/{session.server.pk}/delete/").status_code == 403


def test_check_logins_are_edited_as_app_names(admin: Client) -> None:
    app = make_app()
    response = admin.post(
        f"{CHANGELIST}{app.pk}/change/", form_data(check_logins=" notes, dbnotes,,notes ")
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    app.refresh_from_db()
    assert app.check_logins == ["dbnotes", "notes"]
    page = admin.get(f"{CHANGELIST}{app.pk}/change/").content.decode()
    assert 'value="dbnotes, notes"' in page
    assert "May check the passwords of" in page


def test_check_logins_refuse_what_is_no_app_name(admin: Client) -> None:
    app = make_app()
    response = admin.post(f"{CHANGELIST}{app.pk}/change/", form_data(check_logins="notes; x"))
    assert response.status_code == 200
    assert "is not an App name" in str(response.context["adminform"].form.errors)


def test_an_app_without_check_logins_checks_none(admin: Client) -> None:
    response = admin.post(f"{CHANGELIST}add/", form_data(password=PASSWORD))
    assert response.status_code == 302
    assert App.objects.get(name="notesapp").check_logins == []

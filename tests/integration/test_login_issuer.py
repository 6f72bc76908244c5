"""The login issuer: POST /appws/login hands the site's users an AppLogin."""

from __future__ import annotations

import json
import logging
import re
import uuid
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth.models import Group, Permission, User
from django.core.cache import cache
from django.http import HttpRequest
from django.middleware.csrf import get_token
from django.test import Client
from django.urls import reverse

from appws import AppWebsocketConsumer, mt
from appws.accounts import AppAccount, load_app
from appws.http.issuer import APP_PAGE_PREFIX
from appws.models import App
from appws.protocol import js_stringify, login_digest, verify_login
from appws.testing import AppwsCommunicator

URL = "/appws/login"
CHALLENGE = "0123456789abcdef"
PASSWORD = "issuer-S3cret-pw"


def make_app(name: str, password: str = PASSWORD, **fields: Any) -> App:
    app = App(name=name, **fields)
    app.set_password(password)
    app.save()
    return app


def grant(who: User | Group, app: App) -> None:
    permission = Permission.objects.get(codename=app.access_codename)
    if isinstance(who, Group):
        who.permissions.add(permission)
    else:
        who.user_permissions.add(permission)


def make_user(username: str, **fields: Any) -> User:
    return User.objects.create_user(username=username, password="x", **fields)


def post(client: Client, body: Any, **extra: Any) -> Any:
    data = body if isinstance(body, (str, bytes)) else json.dumps(body)
    return client.post(URL, data=data, content_type="application/json", **extra)


def logged_in(user: User, **client_options: Any) -> Client:
    client = Client(**client_options)
    client.force_login(user)
    return client


@pytest.fixture
def notes(db: None) -> App:
    return make_app("issued-notes", title="Issued Notes")


@pytest.fixture
def alice(db: None, notes: App) -> User:
    user = make_user("alice", first_name="Alice", last_name="Liddell")
    grant(user, notes)
    return user


def assert_refusal(response: Any, status: int, error: str) -> dict[str, Any]:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/json"
    assert response["Cache-Control"] == "no-store"
    body: dict[str, Any] = response.json()
    assert list(body) == ["error", "errorText"]
    assert body["error"] == error
    assert isinstance(body["errorText"], str) and body["errorText"]
    return body


def test_url_name() -> None:
    assert reverse("appws:issue-login") == URL


# -- refusals -------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("method", ["get", "put", "delete"])
def test_only_post(alice: User, method: str) -> None:
    response = getattr(logged_in(alice), method)(URL)
    assert_refusal(response, 405, "method-not-allowed")
    assert response["Allow"] == "POST"


@pytest.mark.django_db
def test_not_logged_in(notes: App) -> None:
    assert_refusal(
        post(Client(), {"app": notes.name, "challenge": CHALLENGE}), 401, "not-authenticated"
    )


@pytest.mark.django_db
def test_not_logged_in_comes_before_body_checks() -> None:
    assert_refusal(post(Client(), "not json"), 401, "not-authenticated")


@pytest.mark.django_db
@pytest.mark.parametrize(
    "body",
    [
        "",
        "not json",
        b"\xff\xfe{}",
        "[]",
        '"issued-notes"',
        "null",
        {},
        {"challenge": CHALLENGE},
        {"app": "", "challenge": CHALLENGE},
        {"app": 5, "challenge": CHALLENGE},
        {"app": ["issued-notes"], "challenge": CHALLENGE},
        {"app": "issued-notes"},
        {"app": "issued-notes", "challenge": ""},
        {"app": "issued-notes", "challenge": 1234},
        {"app": "issued-notes", "challenge": None},
        {"app": "issued-notes", "challenge": "x" * 17},
        {"app": "issued-notes", "challenge": "x" * 64},
        {"app": "issued-notes", "challenge": "1234:5678"},
        {"app": "issued-notes", "challenge": "bob::Bob:1234"},
        {"app": "issued-notes", "challenge": " !~{}\"'"},
        {"app": "issued-notes", "challenge": "12 34"},
        {"app": "issued-notes", "challenge": "caf\u00e9"},
        {"app": "issued-notes", "challenge": "12\n34"},
        {"app": "issued-notes", "challenge": "12\x7f34"},
        {"app": "issued-notes", "challenge": CHALLENGE, "pad": "x" * 5000},
    ],
    ids=lambda body: repr(body)[:40],
)
def test_malformed_bodies(alice: User, body: Any) -> None:
    assert_refusal(post(logged_in(alice), body), 400, "bad-request")


@pytest.mark.django_db
def test_challenge_limits(alice: User) -> None:
    # Only what a service hands out: letters and digits, at most 16 (no ':' to
    # shift the digest's field boundaries with). Before, any 64 printable ASCII.
    client = logged_in(alice)
    for challenge in ["1", "x" * 16, "AZaz09", CHALLENGE, "4711081542004711"]:
        response = post(client, {"app": "issued-notes", "challenge": challenge})
        assert response.status_code == 200, (challenge, response.content)


@pytest.mark.django_db
def test_bad_challenge_says_which_format_is_signed(alice: User) -> None:
    response = post(logged_in(alice), {"app": "issued-notes", "challenge": "a:b"})
    body = assert_refusal(response, 400, "bad-request")
    assert body["errorText"] == (
        "'challenge' must be 1 to 16 letters or digits (A-Z, a-z, 0-9): "
        "the challenge AppChallengeResult gave the App, unchanged."
    )


@pytest.mark.django_db
def test_user_named_like_the_app_gets_no_login(notes: App) -> None:
    # info.appobj == sip is how a PBX's own App object logs in.
    namesake = make_user(notes.name)
    grant(namesake, notes)
    body = assert_refusal(
        post(logged_in(namesake), {"app": notes.name, "challenge": CHALLENGE}), 403, "unissuable"
    )
    assert "App object" in body["errorText"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("fields", "shown"),
    [
        ({"username": "mal:lory"}, "user name holds ':'"),
        ({"username": "mallory", "first_name": "Mal:{x"}, "display name holds ':{'"),
    ],
)
def test_fields_that_would_make_the_digest_ambiguous_are_not_signed(
    notes: App, fields: dict[str, str], shown: str
) -> None:
    user = make_user(**fields)
    grant(user, notes)
    response = post(logged_in(user), {"app": notes.name, "challenge": CHALLENGE})
    body = assert_refusal(response, 403, "unissuable")
    assert shown in body["errorText"]


@pytest.mark.django_db
def test_display_name_with_a_plain_colon_is_signed(notes: App) -> None:
    # "Room 1: Front desk" is a real display name; only ':{' can move the dn/info boundary.
    user = make_user("desk", first_name="Room 1:", last_name="Front desk")
    grant(user, notes)
    login = post(logged_in(user), {"app": notes.name, "challenge": CHALLENGE}).json()
    assert login["dn"] == "Room 1: Front desk"


@pytest.mark.django_db
def test_ipv6_host_is_refused_with_a_pointer_to_the_domain_setting(
    alice: User, settings: Any, caplog: pytest.LogCaptureFixture
) -> None:
    settings.ALLOWED_HOSTS = ["[::1]", "testserver"]
    response = post(
        logged_in(alice), {"app": "issued-notes", "challenge": CHALLENGE}, HTTP_HOST="[::1]:8000"
    )
    assert response.status_code == 500
    body = response.json()
    assert body["error"] == "misconfigured"
    assert "APPWS['DOMAIN']" in body["errorText"]
    assert "APPWS['DOMAIN']" in caplog.text
    settings.APPWS = {**getattr(settings, "APPWS", {}), "DOMAIN": "example.com"}
    login = post(logged_in(alice), {"app": "issued-notes", "challenge": CHALLENGE}).json()
    assert login["domain"] == "example.com"


@pytest.mark.django_db
def test_unknown_and_disabled_apps_look_the_same(alice: User) -> None:
    disabled = make_app("issued-off", enabled=False)
    grant(alice, disabled)
    client = logged_in(alice)
    unknown = assert_refusal(
        post(client, {"app": "nope", "challenge": CHALLENGE}), 404, "unknown-app"
    )
    off = assert_refusal(
        post(client, {"app": "issued-off", "challenge": CHALLENGE}), 404, "unknown-app"
    )
    assert unknown == off


@pytest.mark.django_db
def test_settings_only_app_is_unknown(alice: User) -> None:
    # "echo" is in APPWS["APPS"] of the test settings but has no row, hence no
    # access permission anyone could hold.
    assert_refusal(
        post(logged_in(alice), {"app": "echo", "challenge": CHALLENGE}), 404, "unknown-app"
    )


@pytest.mark.django_db
def test_user_without_access_permission(notes: App) -> None:
    bob = make_user("bob")
    assert_refusal(
        post(logged_in(bob), {"app": notes.name, "challenge": CHALLENGE}), 403, "forbidden"
    )


@pytest.mark.django_db
def test_operation_permissions_do_not_grant_access(notes: App) -> None:
    bob = make_user("bob")
    bob.user_permissions.add(Permission.objects.get(codename="delete_user"))
    notes.permissions.add(Permission.objects.get(codename="delete_user"))
    assert_refusal(
        post(logged_in(bob), {"app": notes.name, "challenge": CHALLENGE}), 403, "forbidden"
    )


# -- CSRF ----------------------------------------------------------------------


@pytest.mark.django_db
def test_csrf_token_missing_is_refused(alice: User) -> None:
    client = logged_in(alice, enforce_csrf_checks=True)
    response = post(client, {"app": "issued-notes", "challenge": CHALLENGE})
    assert response.status_code == 403
    assert b"CSRF verification failed" in response.content  # Django's page, not the issuer's
    assert b"digest" not in response.content


@pytest.mark.django_db
def test_csrf_token_in_header_is_accepted(alice: User) -> None:
    client = logged_in(alice, enforce_csrf_checks=True)
    request = HttpRequest()
    token = get_token(request)  # what {% csrf_token %} or the csrftoken cookie gives a page
    client.cookies["csrftoken"] = request.META["CSRF_COOKIE"]
    response = post(client, {"app": "issued-notes", "challenge": CHALLENGE}, HTTP_X_CSRFTOKEN=token)
    assert response.status_code == 200, response.content
    assert verify_login(response.json(), CHALLENGE, PASSWORD)


# -- success ---------------------------------------------------------------------


@pytest.mark.django_db
def test_issued_login_fields(alice: User, notes: App) -> None:
    response = post(logged_in(alice), {"app": notes.name, "challenge": CHALLENGE})
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response["Cache-Control"] == "no-store"
    login = response.json()
    assert list(login) == ["app", "domain", "sip", "guid", "dn", "info", "pbxObj", "digest"]
    assert login["app"] == "issued-notes"
    assert login["domain"] == "testserver"
    assert login["sip"] == "alice"
    assert re.fullmatch(r"[0-9a-f]{32}", login["guid"])
    assert login["dn"] == "Alice Liddell"
    assert login["pbxObj"] == "issued-notes"
    assert re.fullmatch(r"[0-9a-f]{64}", login["digest"])
    assert login["info"] == {
        "appobj": "issued-notes",
        "appdn": "Issued Notes",
        "appurl": "http://testserver/apps/issued-notes.htm",
        "cn": "Alice Liddell",
        "apps": [{"name": "issued-notes"}],
        "groups": [],
    }
    assert list(login["info"]) == ["appobj", "appdn", "appurl", "cn", "apps", "groups"]
    assert APP_PAGE_PREFIX == "/apps/"


@pytest.mark.django_db
def test_dn_and_appdn_fall_back_to_names(notes: App) -> None:
    bare = make_app("issued-bare")
    carol = make_user("carol")
    grant(carol, bare)
    login = post(logged_in(carol), {"app": "issued-bare", "challenge": CHALLENGE}).json()
    assert login["dn"] == login["info"]["cn"] == "carol"
    assert login["info"]["appdn"] == "issued-bare"


@pytest.mark.django_db
def test_domain_sources(alice: User, notes: App, settings: Any) -> None:
    body = {"app": notes.name, "challenge": CHALLENGE}
    client = logged_in(alice)
    # No App domain, no setting: the host name without the port.
    assert post(client, body, HTTP_HOST="localhost:8000").json()["domain"] == "localhost"
    settings.APPWS = {**settings.APPWS, "DOMAIN": "site.example.com"}
    assert post(client, body).json()["domain"] == "site.example.com"
    notes.domain = "notes.example.net"
    notes.save()
    login = post(client, body).json()
    assert login["domain"] == "notes.example.net"
    assert verify_login(login, CHALLENGE, PASSWORD)


@pytest.mark.django_db
def test_apps_lists_what_the_user_may_open(notes: App) -> None:
    board = make_app("issued-board")
    make_app("issued-admin")  # nobody is granted this one
    off = make_app("issued-off", enabled=False)
    staff = Group.objects.create(name="staff")
    grant(staff, board)
    grant(staff, off)
    other = Group.objects.create(name="Accounting")
    dave = make_user("dave")
    dave.groups.add(staff, other)
    grant(dave, notes)

    login = post(logged_in(dave), {"app": "issued-board", "challenge": CHALLENGE}).json()
    assert login["info"]["apps"] == [{"name": "issued-board"}, {"name": "issued-notes"}]
    assert login["info"]["groups"] == ["Accounting", "staff"]
    assert verify_login(login, CHALLENGE, PASSWORD)


@pytest.mark.django_db
def test_superuser_may_open_every_enabled_app(notes: App) -> None:
    make_app("issued-board")
    make_app("issued-off", enabled=False)
    root = User.objects.create_superuser("root", "root@example.com", "x")
    login = post(logged_in(root), {"app": "issued-board", "challenge": CHALLENGE}).json()
    assert login["info"]["apps"] == [{"name": "issued-board"}, {"name": "issued-notes"}]


@pytest.mark.django_db
def test_guid_is_stable_per_user(alice: User, notes: App, settings: Any) -> None:
    body = {"app": notes.name, "challenge": CHALLENGE}
    first = post(logged_in(alice), body).json()["guid"]
    settings.SECRET_KEY_FALLBACKS = [settings.SECRET_KEY]
    settings.SECRET_KEY = "rotated-" + "k" * 50
    assert post(logged_in(alice), {**body, "challenge": "42"}).json()["guid"] == first
    assert first == uuid.uuid5(uuid.NAMESPACE_URL, f"appws:user:{alice.pk}").hex
    erin = make_user("erin")
    grant(erin, notes)
    assert post(logged_in(erin), body).json()["guid"] != first


@pytest.mark.django_db
def test_digest_verifies_as_the_consumer_checks_it(notes: App) -> None:
    zoe = make_user("zoe", first_name="Zo\u00eb", last_name='\u00dcnal / "Z\u2028"')
    grant(zoe, notes)
    zoe.groups.add(Group.objects.create(name="\u00c9quipe <1>"))
    response = post(logged_in(zoe), {"app": notes.name, "challenge": CHALLENGE})
    login = response.json()
    assert login["dn"] == 'Zo\u00eb \u00dcnal / "Z\u2028"'
    # The digest covers exactly the fields, info as JSON.stringify writes it.
    assert login["digest"] == login_digest(login, CHALLENGE, PASSWORD)
    assert verify_login(login, CHALLENGE, PASSWORD)
    # The frame a browser sends: JSON.stringify of {mt, ...login}.
    frame = js_stringify({"mt": "AppLogin", **login})
    assert verify_login(json.loads(frame), CHALLENGE, PASSWORD, frame_text=frame)
    assert not verify_login(login, "another", PASSWORD)
    assert not verify_login({**login, "sip": "root"}, CHALLENGE, PASSWORD)


@pytest.mark.django_db
def test_settings_entry_shadowing_a_row_signs_with_its_password(alice: User) -> None:
    # Services look "echo" up in APPWS["APPS"] first (password "echo"), so the
    # issuer signs with that password, not with the row's.
    echo = make_app("echo", password="row-password")
    grant(alice, echo)
    login = post(logged_in(alice), {"app": "echo", "challenge": CHALLENGE}).json()
    assert verify_login(login, CHALLENGE, "echo")
    assert not verify_login(login, CHALLENGE, "row-password")


@pytest.mark.django_db
def test_settings_entry_shadowing_a_row_issues_its_domain(alice: User) -> None:
    # "notes" is in APPWS["APPS"] with domain notes.example.com: services report that
    # domain for it, so the issued login carries it too, not the row's (empty) one.
    row = make_app("notes", password="row-password")
    grant(alice, row)
    login = post(logged_in(alice), {"app": "notes", "challenge": CHALLENGE}).json()
    assert login["domain"] == "notes.example.com"
    assert verify_login(login, CHALLENGE, "notes-secret")


@pytest.mark.django_db
def test_undecryptable_password_is_a_json_error(
    alice: User, notes: App, settings: Any, caplog: pytest.LogCaptureFixture
) -> None:
    settings.SECRET_KEY = "rotated-without-fallback-" + "k" * 40
    response = post(logged_in(alice), {"app": notes.name, "challenge": CHALLENGE})
    assert_refusal(response, 500, "internal")
    assert any(r.levelno == logging.ERROR for r in caplog.records if r.name == "appws.login")


# -- secrets and logs ----------------------------------------------------------


@pytest.mark.django_db
def test_password_is_never_shown_and_logins_are_logged(
    alice: User, notes: App, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="appws.login")
    client = logged_in(alice)
    ok = post(client, {"app": notes.name, "challenge": CHALLENGE})
    refusals = [
        post(client, {"app": "nope", "challenge": CHALLENGE}),
        post(client, {"app": notes.name}),
        client.get(URL),
        post(logged_in(make_user("bob")), {"app": notes.name, "challenge": CHALLENGE}),
        post(Client(), {"app": notes.name, "challenge": CHALLENGE}),
    ]
    digest = ok.json()["digest"]
    for response in [ok, *refusals]:
        assert PASSWORD.encode() not in response.content
    records = [r for r in caplog.records if r.name == "appws.login"]
    assert all(r.levelno == logging.INFO for r in records)
    messages = [r.getMessage() for r in records]
    assert len(messages) == 6
    for message in messages:
        assert PASSWORD not in message
        assert digest not in message
        assert CHALLENGE not in message
    issued = messages[0]
    assert "issued" in issued and "'issued-notes'" in issued and "'alice'" in issued
    assert "127.0.0.1" in issued
    assert [m.split(":", 1)[0] for m in messages[1:]] == ["Login refused"] * 5
    assert "unknown-app" in messages[1] and "'nope'" in messages[1]
    assert "bad-request" in messages[2]
    assert "method-not-allowed" in messages[3]
    assert "forbidden" in messages[4] and "'bob'" in messages[4]
    assert "not-authenticated" in messages[5]
    assert PASSWORD not in caplog.text


# -- a real login with the issued fields ------------------------------------------


class IssuedService(AppWebsocketConsumer):
    apps = ("issued-e2e",)

    async def get_app(self, name: str) -> AppAccount | None:
        return await load_app(name)

    @mt("WhoAmI")
    async def who_am_i(self, msg: dict[str, Any]) -> dict[str, Any]:
        session = self.session
        assert session is not None
        return {
            "sip": session.sip,
            "dn": session.dn,
            "guid": session.guid,
            "domain": session.domain,
            "info": session.info,
            "pbxObj": session.pbx_obj,
        }


def _issue(user: User, challenge: str) -> dict[str, Any]:
    response = post(logged_in(user), {"app": "issued-e2e", "challenge": challenge})
    assert response.status_code == 200, response.content
    login: dict[str, Any] = response.json()
    return login


def _e2e_setup() -> User:
    app = make_app("issued-e2e", title="End to end", domain="e2e.example.com")
    group = Group.objects.create(name="e2e")
    grant(group, app)
    user = make_user("frank", first_name="Fr\u00e4nk")
    user.groups.add(group)
    return user


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("as_browser", [False, True])
async def test_issued_login_logs_in_through_the_consumer(as_browser: bool) -> None:
    await cache.aclear()  # no failed-login counts or cached Apps from earlier tests
    user = await sync_to_async(_e2e_setup)()
    comm = AppwsCommunicator(IssuedService.as_asgi(), "/apps/issued-e2e")
    connected, _ = await comm.connect()
    assert connected
    try:
        challenge = (await comm.request({"mt": "AppChallenge"}))["challenge"]
        login = await sync_to_async(_issue)(user, challenge)
        message = {"mt": "AppLogin", **login, "src": "login"}
        if as_browser:  # the exact text JSON.stringify would send
            await comm.send_to(text_data=js_stringify(message))
            result = await comm.receive_json_from()
        else:
            result = await comm.request(message)
        assert result == {
            "mt": "AppLoginResult",
            "ok": True,
            "domain": "e2e.example.com",
            "src": "login",
        }
        me = await comm.request({"mt": "WhoAmI", "src": "me"})
        assert me == {
            "mt": "WhoAmIResult",
            "sip": "frank",
            "dn": "Fr\u00e4nk",
            "guid": login["guid"],
            "domain": "e2e.example.com",
            "info": login["info"],
            "pbxObj": "issued-e2e",
            "src": "me",
        }
    finally:
        await comm.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_issued_login_is_bound_to_its_challenge() -> None:
    await cache.aclear()
    user = await sync_to_async(_e2e_setup)()
    comm = AppwsCommunicator(IssuedService.as_asgi(), "/apps/issued-e2e")
    connected, _ = await comm.connect()
    assert connected
    try:
        await comm.request({"mt": "AppChallenge"})
        login = await sync_to_async(_issue)(user, "0000000000000000")  # not this connection's
        result = await comm.request({"mt": "AppLogin", **login})
        assert result["ok"] is False
    finally:
        await comm.disconnect()

"""CheckBuild, AppInfo, PbxInfo, KeepAlive and AppCheckLogin."""

from __future__ import annotations

import pytest

from appws import protocol


@pytest.fixture
def build(settings):
    settings.APPWS = {**settings.APPWS, "BUILD": "1a2b"}


@pytest.mark.usefixtures("build")
@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://h/apps/notes.htm", "https://h/apps/1a2b/notes.htm"),
        ("https://h/apps/0f0f/notes.htm?x=1#y", "https://h/apps/1a2b/notes.htm?x=1#y"),
        ("https://h/apps/1a2b/notes.htm", None),
    ],
)
async def test_check_build(connect, url, expected):
    comm = await connect()
    reply = await comm.request({"mt": "CheckBuild", "url": url, "src": "b"})
    wanted = {"mt": "CheckBuildResult", "src": "b"}
    if expected:
        wanted["url"] = expected
    assert reply == wanted


async def test_check_build_without_configured_build_never_redirects(connect):
    comm = await connect()
    reply = await comm.request({"mt": "CheckBuild", "url": "https://h/apps/notes.htm"})
    assert reply == {"mt": "CheckBuildResult"}


async def test_check_build_needs_a_url(connect):
    comm = await connect()
    reply = await comm.request({"mt": "CheckBuild", "url": 5})
    assert reply["error"] == "bad-request"
    assert (await comm.request({"mt": "AppChallenge"}))["mt"] == "AppChallengeResult"


@pytest.mark.usefixtures("build")
async def test_check_build_with_an_unparsable_url(connect):
    comm = await connect()
    reply = await comm.request({"mt": "CheckBuild", "url": "http://[::1/notes.htm", "src": "u"})
    assert reply == {
        "mt": "CheckBuildResult",
        "error": "bad-request",
        "errorText": "CheckBuild 'url' is not a URL",
        "src": "u",
    }
    assert (await comm.request({"mt": "AppChallenge"}))["mt"] == "AppChallengeResult"


async def test_keepalive_silent_by_default(connect):
    comm = await connect(login=("notes", "notes-secret"))
    await comm.send_json_to({"mt": "KeepAlive"})
    assert await comm.receive_nothing()


async def test_keepalive_echo_setting(connect, settings):
    settings.APPWS = {**settings.APPWS, "KEEPALIVE_ECHO": True}
    comm = await connect()
    assert await comm.request({"mt": "KeepAlive"}) == {"mt": "KeepAlive"}
    assert await comm.request({"mt": "KeepAlive", "src": "k"}) == {"mt": "KeepAlive", "src": "k"}


async def test_app_info(connect):
    comm = await connect(login=("notes", "notes-secret"))
    reply = await comm.request({"mt": "AppInfo", "app": "notes", "src": "i"})
    assert reply == {
        "mt": "AppInfoResult",
        "info": {"hidden": False, "apis": {}},
        "serviceInfo": {"apis": {}},
        "src": "i",
    }
    reply = await comm.request({"mt": "AppInfo", "app": "calendar"})
    assert reply["error"] == "unknown-app"


async def test_pbx_info_is_stored_on_the_session(connect):
    comm = await connect(
        "/apps/pbxapp",
        login=("pbxapp", "pwd"),
        domain="pbx.example.com",
        sip="app-object",
        info={"appobj": "app-object", "lics": 5},  # the PBX's own App object
    )
    pbx_info = {
        "mt": "PbxInfo",
        "domain": "pbx.example.com",
        "pbx": "master",
        "pbxDns": "pbx.example.com",
        "apis": ["PbxSignal"],
        "version": "14r2",
        "build": "1234",
    }
    await comm.send_json_to(pbx_info)
    assert await comm.receive_nothing()
    reply = await comm.request({"mt": "Session"})
    assert reply["pbxInfo"] == {k: v for k, v in pbx_info.items() if k != "mt"}


def check_login(app, password, challenge="987654", **extra):
    fields = {"app": app, "domain": "example.com"}
    digest = protocol.login_digest(fields, challenge, password)
    return {"mt": "AppCheckLogin", **fields, "challenge": challenge, "digest": digest, **extra}


async def test_app_check_login(connect):
    # notes-admin may check notes (tests/settings.py "check_logins").
    comm = await connect("/apps/notes-admin", login=("notes-admin", "admin-secret"))
    for password, ok in (("notes-secret", True), ("other", False)):
        reply = await comm.request(check_login("notes", password, src="x"))
        assert reply == {"mt": "AppCheckLoginResult", "ok": ok, "src": "x"}
    malformed = await comm.request({"mt": "AppCheckLogin", "app": "notes"})
    assert malformed["error"] == "bad-request"


async def test_app_check_login_needs_the_right_to_check_that_app(connect):
    comm = await connect(login=("notes", "notes-secret"))
    reply = await comm.request(check_login("notes", "notes-secret"))
    assert reply["error"] == "forbidden"
    assert "ok" not in reply
    assert reply["errorText"].startswith("App 'notes' may not check the password of App 'notes'")
    assert '"check_logins"' in reply["errorText"]
    admin = await connect("/apps/notes-admin", login=("notes-admin", "admin-secret"))
    assert (await admin.request(check_login("echo", "echo")))["error"] == "forbidden"


async def test_app_check_login_only_for_apps_served_here(connect, settings):
    apps = settings.APPWS["APPS"]
    admin_entry = {**apps["notes-admin"], "check_logins": ["echo", "calendar"]}
    settings.APPWS = {**settings.APPWS, "APPS": {**apps, "notes-admin": admin_entry}}
    admin = await connect("/apps/notes-admin", login=("notes-admin", "admin-secret"))
    for app, password in (("echo", "echo"), ("calendar", "x")):
        reply = await admin.request(check_login(app, password))
        assert reply["error"] == "unknown-app", reply


async def test_wrong_app_check_logins_count_as_failed_logins(connect, settings):
    settings.APPWS = {**settings.APPWS, "LOGIN_FAILURE_LIMIT": 3}
    admin = await connect("/apps/notes-admin", login=("notes-admin", "admin-secret"))
    assert (await admin.request(check_login("notes", "notes-secret")))["ok"] is True
    for _ in range(2):
        assert (await admin.request(check_login("notes", "guess")))["ok"] is False
    await admin.send_json_to(check_login("notes", "guess"))
    assert await admin.receive_json_from() == {"mt": "AppCheckLoginResult", "ok": False}
    closed = await admin.receive_output()
    assert closed == {"type": "websocket.close", "code": 4429, "reason": "too many failed logins"}
    # The same count as AppLogin: the address may not log in either.
    comm = await connect()
    result = await comm.login("notes", "notes-secret")
    assert result["errorText"].startswith("too many failed logins from this address")


async def test_app_check_login_from_a_throttled_address_closes_the_session(connect, settings):
    settings.APPWS = {**settings.APPWS, "LOGIN_FAILURE_LIMIT": 2}
    admin = await connect("/apps/notes-admin", login=("notes-admin", "admin-secret"))
    for _ in range(2):  # other connections from the address fill the window
        comm = await connect()
        assert (await comm.login("notes", "guess"))["ok"] is False
    await admin.send_json_to(check_login("notes", "notes-secret", src="c"))
    reply = await admin.receive_json_from()
    assert reply["ok"] is False and reply["error"] == "throttled" and reply["src"] == "c"
    assert reply["errorText"].startswith("too many failed logins from this address")
    assert (await admin.receive_output())["code"] == 4429


async def test_app_check_login_while_the_cache_is_down_keeps_the_session(connect, monkeypatch):
    from appws.server import throttle

    admin = await connect("/apps/notes-admin", login=("notes-admin", "admin-secret"))

    async def unreachable(name, *args):
        raise ConnectionRefusedError("the cache's server is down")

    monkeypatch.setattr(throttle, "_call", unreachable)
    reply = await admin.request(check_login("notes", "notes-secret", src="c"))
    assert reply["ok"] is False and reply["error"] == "unavailable" and reply["src"] == "c"
    assert reply["errorText"].startswith("logins cannot be checked for a moment")
    # Nothing was checked or counted: the session did nothing wrong and stays open.
    assert (await admin.request({"mt": "AppInfo", "app": "notes"}))["mt"] == "AppInfoResult"

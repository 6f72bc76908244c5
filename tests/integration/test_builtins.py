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
        info={"lics": 5},
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


async def test_app_check_login(connect):
    comm = await connect(login=("notes", "notes-secret"))
    fields = {"app": "notes", "domain": "example.com"}
    good = protocol.login_digest(fields, "987654", "notes-secret")
    bad = protocol.login_digest(fields, "987654", "other")
    for digest, ok in ((good, True), (bad, False)):
        reply = await comm.request(
            {"mt": "AppCheckLogin", **fields, "challenge": "987654", "digest": digest, "src": "x"}
        )
        assert reply == {"mt": "AppCheckLoginResult", "ok": ok, "src": "x"}
    unknown = await comm.request(
        {"mt": "AppCheckLogin", "app": "calendar", "domain": "", "challenge": "1", "digest": good}
    )
    assert unknown["ok"] is False
    malformed = await comm.request({"mt": "AppCheckLogin", "app": "notes"})
    assert malformed["error"] == "bad-request"

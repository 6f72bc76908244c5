"""``appws.testing.FakePbx`` end to end: a PBX's connection to a service under daphne.

The service (tests/e2e/pbx_service.py) checks the login with the real digest and
drives the PBX's APIs as App Services do; what each side sent is read off the
FakePbx's record of the wire.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from appws import protocol
from appws.testing import FakePbx
from appws.testing.fakepbx import (
    NOT_JSON,
    LoginRefused,
    new_user,
    oversized_row,
    row_of_wrong_types,
    row_without_guid,
)
from tests.e2e.daphne import ROOT, DaphneProcess, services_server
from tests.e2e.databases import e2e_database
from tests.e2e.pbx_service import BADGE

pytestmark = pytest.mark.e2e

WAIT = 30  # s: a bound for crossing processes; nothing measures speed
OTHER = {
    "name": "other@example.com",
    "title": "Other",
    "url": "wss://svc.example.com/apps/other",
    "info": {"com.example.api1": {}},
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DaphneProcess]:
    with services_server(e2e_database(tmp_path_factory.mktemp("fakepbx"))) as server:
        yield server


def make_pbx(server: DaphneProcess, **options: Any) -> FakePbx:
    options.setdefault("password", "pbxtest")
    options.setdefault("timeout", WAIT)
    return FakePbx(f"{server.url}/apps/pbxtest", **options)


@pytest.fixture
async def pbx(server: DaphneProcess) -> AsyncIterator[FakePbx]:
    pbx = make_pbx(
        server,
        sip="pbxtest-obj",
        dn="PBX Test",
        users=[],
        services=[OTHER],
        service_passwords={"other@example.com": "other-secret"},
        app_passwords={"pbxtest": "pbxtest"},
    )
    pbx.users.load([_user("alice"), _user("bob")])
    async with pbx:
        # The service replicates on PbxInfo: the initial copy ends with a row-less result.
        await pbx.wait_for(direction="sent", mt="ReplicateNextResult", src="r3")
        yield pbx


def _user(h323: str) -> dict[str, Any]:
    return new_user(h323)


async def relay(pbx: FakePbx, message: dict[str, Any]) -> int:
    """Make the service send ``message``; return the mark before it."""
    mark = pbx.mark()
    await pbx.send({"mt": "Relay", "message": message})
    return mark


async def settle(pbx: FakePbx) -> int:
    """Wait until the service has dealt with everything sent so far (it serves in order)."""
    mark = pbx.mark()
    await pbx.send({"mt": "Whoami", "src": f"w{mark}"})
    await pbx.wait_for(since=mark, mt="WhoamiResult", src=f"w{mark}")
    return mark


async def test_logs_in_as_the_app_object_with_a_digest_the_service_checks(pbx):
    login = pbx.frames[2]
    assert [f.mt for f in pbx.frames[:6]] == [
        "AppChallenge",
        "AppChallengeResult",
        "AppLogin",
        "AppLoginResult",
        "PbxInfo",
        "AppInfo",
    ]
    message = login.message
    assert message is not None and "pbxObj" not in message
    assert (message["app"], message["sip"], message["dn"], message["domain"]) == (
        "pbxtest",
        "pbxtest-obj",
        "PBX Test",
        "example.com",
    )
    assert len(message["guid"]) == 32 and int(message["guid"], 16) >= 0
    assert list(message["info"]) == ["appobj", "appdn", "appurl", "pbx", "cn", "lics", "apps"]
    assert message["info"]["appobj"] == "pbxtest-obj"
    assert message["info"]["appurl"] == f"{pbx.identity.url.replace('ws:', 'http:', 1)}"
    challenge = pbx.frames[1].message["challenge"]
    assert protocol.verify_login(message, challenge, "pbxtest", frame_text=login.text)
    assert pbx.login_result["ok"] is True
    info = pbx.frames[4].message
    assert list(info) == ["mt", "domain", "pbx", "pbxDns", "apis", "version", "build"]
    whoami = pbx.frames[(await settle(pbx)) + 1].message
    assert whoami["kind"] == "pbx" and whoami["pbxInfo"]["apis"] == list(pbx.identity.apis)
    appinfo = await pbx.wait_for(mt="AppInfoResult")
    assert pbx.app_info_result == appinfo.message


async def test_a_wrong_password_is_refused(server):
    with pytest.raises(LoginRefused, match="wrong digest"):
        await make_pbx(server, password="not-it").open()


async def test_replication_serves_rows_with_pwd_then_pushes_live_changes(pbx):
    start = pbx.sent(mt="ReplicateStartResult")[0]
    assert start["src"] == "r0" and "guid" in start["columns"] and "pwd" in start["columns"]
    rows = pbx.sent(mt="ReplicateNextResult")
    assert [r["src"] for r in rows] == ["r1", "r2", "r3"]
    assert [r["columns"]["h323"] for r in rows[:2]] == ["alice", "bob"]
    assert all(r["columns"]["pwd"] for r in rows[:2]) and "columns" not in rows[2]
    mark = pbx.mark()
    carol = await pbx.add_user("carol", cn="Carol C")
    await pbx.update_user(carol["guid"], dn="Carol")
    await pbx.delete_user(carol["guid"])
    live = [f.message for f in pbx.frames[mark:] if f.direction == "sent"]
    assert [(m["mt"], m["src"]) for m in live] == [
        ("ReplicateAdd", "r0"),
        ("ReplicateUpdate", "r0"),
        ("ReplicateDel", "r0"),
    ]
    assert live[1]["columns"]["dn"] == "Carol" and live[1]["columns"]["cn"] == "Carol C"
    assert live[2]["columns"] == {"guid": carol["guid"], "h323": "carol"}
    pbx.users.live_src = "next"  # fault: reuse the src of an answered ReplicateNext
    await pbx.add_user("dave")
    assert pbx.sent(mt="ReplicateAdd")[-1]["src"] == "r3"
    await settle(pbx)
    assert not pbx.received(mt="ReplicateAddResult")


async def test_presence_calls_record_what_the_service_answers(pbx):
    assert pbx.sent(mt="RegisterResult", api="PbxSignal", src="s1")
    call = await pbx.subscribe_presence("alice")
    assert call.call < 0
    setup = pbx.sent(mt="Signaling")[-1]
    assert setup["sig"]["cg"] == {"sip": "alice"} and setup["sig"]["cd"] == {"sip": "pbxtest-obj"}
    assert setup["sig"]["fty"] == [{"type": "presence_subscribe"}]
    await pbx.wait_for(mt="Signaling", call=call.call, src="badge")
    assert call.connected and call.badge == BADGE and call.badges == [BADGE]
    other = await pbx.subscribe_presence("bob")
    assert other.call == call.call - 1
    await pbx.release(call)
    assert pbx.sent(mt="Signaling")[-1] == {
        "api": "PbxSignal",
        "mt": "Signaling",
        "call": call.call,
        "sig": {"type": "rel"},
    }
    await settle(pbx)
    assert not pbx.sent(mt="SignalingResult")


async def test_services_list_and_a_service_login_with_a_real_digest(pbx):
    assert [m["mt"] for m in pbx.sent(api="Services")] == [
        "SubscribeServicesResult",
        "ServicesInfo",
    ]
    assert (
        pbx.sent(mt="ServicesInfo")[0]["services"] == [OTHER]
        and pbx.sent(mt="ServicesInfo")[0]["src"] == "v1"
    )
    await pbx.set_services([OTHER, {**OTHER, "name": "third@example.com"}])
    assert len(pbx.sent(mt="ServicesInfo")[-1]["services"]) == 2
    mark = await relay(
        pbx,
        {
            "api": "Services",
            "mt": "GetServiceLogin",
            "app": "other@example.com",
            "challenge": "1234567890123456",
            "src": "v2",
        },
    )
    login = (await pbx.wait_for(direction="sent", since=mark, mt="GetServiceLoginResult")).message
    assert (
        login["app"] == "other"
        and login["sip"] == "pbxtest-obj"
        and login["pbxObj"] == "pbxtest-obj"
    )
    assert protocol.verify_login(login, "1234567890123456", "other-secret")
    assert protocol.login_kind(login) is not protocol.LoginKind.PBX
    mark = await relay(
        pbx,
        {
            "api": "Services",
            "mt": "GetServiceLogin",
            "app": "nobody",
            "challenge": "1",
            "src": "v3",
        },
    )
    refused = (await pbx.wait_for(direction="sent", since=mark, src="v3")).message
    assert refused["error"] == "unknown-service" and "digest" not in refused
    mark = await relay(pbx, {"api": "Services", "mt": "UnsubscribeServices", "src": "v4"})
    await pbx.wait_for(direction="sent", since=mark, mt="UnsubscribeServicesResult", src="v4")
    await pbx.set_services([])
    assert len(pbx.sent(mt="ServicesInfo")) == 2  # no subscription left


async def test_node_info_objects_and_app_logins(pbx):
    node = pbx.sent(mt="GetNodeInfoResult")[0]
    assert node["src"] == "n1" and set(node) >= {
        "name",
        "prefix_intl",
        "prefix_ntl",
        "country_code",
    }
    own = pbx.sent(mt="GetObjectResult")[0]
    assert own["h323"] == "pbxtest-obj" and own["guid"] == pbx.identity.guid
    alice = pbx.users.rows[next(g for g, r in pbx.users.rows.items() if r["h323"] == "alice")]
    mark = await relay(
        pbx, {"api": "PbxAdminApi", "mt": "GetObject", "guid": alice["guid"], "src": "o2"}
    )
    found = (await pbx.wait_for(direction="sent", since=mark, src="o2")).message
    assert found["cn"] == alice["cn"] and "pwd" not in found
    mark = await relay(
        pbx,
        {
            "api": "PbxAdminApi",
            "mt": "GetAppLogin",
            "app": "pbxtest",
            "challenge": "42",
            "src": "o3",
        },
    )
    app_login = (await pbx.wait_for(direction="sent", since=mark, src="o3")).message
    expected = protocol.login_digest({"app": "pbxtest", "domain": "example.com"}, "42", "pbxtest")
    assert app_login["app"] == "pbxtest" and app_login["digest"] == expected


async def test_unknown_requests_get_an_error_result_and_results_get_nothing(server):
    async with make_pbx(server, apis=["PbxApi"]) as pbx:
        await pbx.wait_for(direction="sent", mt="GetNodeInfoResult")
        mark = await relay(pbx, {"api": "PbxApi", "mt": "Frobnicate", "src": "u1"})
        error = (await pbx.wait_for(direction="sent", since=mark, src="u1")).message
        assert error["mt"] == "FrobnicateResult" and error["api"] == "PbxApi"
        assert error["error"] and "Frobnicate" in error["errorText"]
        mark = pbx.mark()
        for message in (
            {"api": "PbxApi", "mt": "GetNodeInfoResult", "src": "u2"},
            {"api": "PbxApi", "mt": "Error", "src": "u3"},
            {"mt": "Error", "src": "u4"},
            {"api": "PbxTableUsers", "mt": "ReplicateStart", "src": "u5"},  # not enabled
        ):
            await relay(pbx, message)
        await settle(pbx)
        answered = [f for f in pbx.frames[mark:] if f.direction == "sent" and f.mt != "Relay"]
        assert [f.mt for f in answered] == ["Whoami"]
        assert pbx.identity.apis == ("PbxApi",) and pbx.frames[4].message["apis"] == ["PbxApi"]
        assert not pbx.sent(api="PbxTableUsers") and not pbx.sent(api="PbxSignal")


async def test_withheld_replies_and_raw_frames(pbx):
    pbx.withhold("GetNodeInfo", count=1)
    mark = await relay(pbx, {"api": "PbxApi", "mt": "GetNodeInfo", "src": "n2"})
    await relay(pbx, {"api": "PbxApi", "mt": "GetNodeInfo", "src": "n3"})
    await pbx.wait_for(direction="sent", since=mark, mt="GetNodeInfoResult", src="n3")
    assert not pbx.sent(src="n2") and [m["src"] for m in pbx.withheld] == ["n2"]
    mark = pbx.mark()
    await pbx.send_raw(NOT_JSON)
    assert pbx.frames[mark].text == NOT_JSON and pbx.frames[mark].message is None
    # On a PBX's connection the service drops what it cannot read: no error goes back.
    await settle(pbx)  # the service serves in order: anything it answered came before this
    answers = [f.message for f in pbx.frames[mark:] if f.direction == "received"]
    assert [m and m["mt"] for m in answers] == ["WhoamiResult"]


async def test_malformed_rows_are_served_as_given(server):
    pbx = make_pbx(server, users=[_user("alice")])
    for row in (row_without_guid(), row_of_wrong_types(), oversized_row(100_000)):
        pbx.inject_row(row)
    async with pbx:
        await pbx.wait_for(direction="sent", mt="ReplicateNextResult", src="r5")
        rows = [m.get("columns") for m in pbx.sent(mt="ReplicateNextResult")]
        assert "guid" not in rows[1] and rows[2]["cn"] == 42 and len(rows[3]["cn"]) == 100_000
        assert rows[4] is None


async def test_drop_after_rows_then_reconnect_logs_in_and_sends_pbxinfo_again(server):
    pbx = make_pbx(server, users=[_user("alice"), _user("bob")])
    pbx.drop_after_rows(1)
    async with pbx:
        assert await pbx.wait_closed() == 1001 and pbx.closed_by == "pbx"
        assert not pbx.connected
        assert len(pbx.sent(mt="ReplicateNextResult")) == 1
        await pbx.reopen()
        again = [f for f in pbx.frames if f.connection == 2]
        assert [f.mt for f in again[:6]] == [
            "AppChallenge",
            "AppChallengeResult",
            "AppLogin",
            "AppLoginResult",
            "PbxInfo",
            "AppInfo",
        ]
        await pbx.wait_for(direction="sent", mt="ReplicateNextResult", src="r3")
        assert [
            f.message["src"] for f in pbx.frames if f.connection == 2 and f.mt == "ReplicateStart"
        ] == ["r0"]
        await pbx.drop()
        assert pbx.close_code == 1001


async def test_the_command_serves_a_running_site_one_line_per_event(server, tmp_path):

    users = tmp_path / "users.json"
    users.write_text('[{"h323": "alice", "cn": "Alice A"}]')
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.e2e.settings",
        "PBX_PW": "pbxtest",
        "PYTHONUNBUFFERED": "1",
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "manage.py",
        "appws_fakepbx",
        f"{server.url}/apps/pbxtest",
        "--password-env",
        "PBX_PW",
        "--sip",
        "obj",
        "--users",
        str(users),
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    assert process.stdout is not None
    lines: list[str] = []
    try:
        while "-> 'PbxTableUsers' 'ReplicateNextResult' src='r2'" not in lines:
            line = await asyncio.wait_for(process.stdout.readline(), WAIT)
            assert line, "\n".join(lines)
            lines.append(line.decode().rstrip("\n"))
    finally:
        process.send_signal(signal.SIGINT)
        rest = await asyncio.wait_for(process.communicate(), WAIT)
    assert lines[0] == f"Connecting to '{server.url}/apps/pbxtest' as App 'pbxtest', object 'obj'"
    assert "-> 'AppLogin'" in lines and "<- 'AppLoginResult'" in lines
    assert any(
        line.startswith("Logged in; PbxInfo sent with APIs ['PbxTableUsers'") for line in lines
    )
    assert "<- 'PbxTableUsers' 'ReplicateStart' src='r0'" in lines
    assert not any("pwd" in line or "digest" in line for line in lines)
    assert b"Interrupted: stopped." in rest[0]


def test_the_command_says_which_variable_to_set(server):

    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.e2e.settings"}
    env.pop("NO_SUCH_PW", None)
    done = subprocess.run(
        [
            sys.executable,
            "manage.py",
            "appws_fakepbx",
            f"{server.url}/apps/pbxtest",
            "--password-env",
            "NO_SUCH_PW",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 1 and "Set the environment variable 'NO_SUCH_PW'" in done.stderr

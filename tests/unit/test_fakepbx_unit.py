"""``appws.testing.FakePbx``'s parts that need no service: its login, replies, faults."""

from __future__ import annotations

import asyncio

import pytest

from appws import protocol
from appws.testing.fakepbx import FakePbx, Identity, new_user
from appws.testing.fakepbx.frames import FrameLog
from appws.testing.fakepbx.wire import Wire, Withhold, result


def test_the_login_is_the_app_objects_and_its_digest_verifies() -> None:
    me = Identity("wss://svc.example.com/apps/notes", "notes", "notes-obj", "Notes", lics=5)
    login = me.login("0123456789012345", "secret")
    assert "pbxObj" not in login and len(login["guid"]) == 32
    assert list(login["info"]) == ["appobj", "appdn", "appurl", "pbx", "cn", "lics", "apps"]
    assert login["info"]["appurl"] == "https://svc.example.com/apps/notes"
    assert login["info"]["apps"] == [{"name": "notes"}] and login["info"]["lics"] == 5
    assert protocol.verify_login(login, "0123456789012345", "secret")
    assert not protocol.verify_login(login, "0123456789012345", "other")
    assert protocol.login_kind(login) is protocol.LoginKind.PBX


def test_unlicensed_appears_only_when_true() -> None:
    me = Identity("ws://h/apps/a", "a", "a", "A", unlicensed=True)
    assert list(me.info())[:6] == ["appobj", "appdn", "appurl", "pbx", "cn", "unlicensed"]
    assert "unlicensed" not in Identity("ws://h/apps/a", "a", "a", "A").info()


def test_app_and_sip_default_to_the_urls_last_path_component() -> None:
    pbx = FakePbx("ws://127.0.0.1:1/apps/notes/", password="p")
    assert (pbx.identity.app, pbx.identity.sip, pbx.identity.dn) == ("notes", "notes", "notes")
    assert pbx.identity.pbx_info()["pbxDns"] == "pbx-main.example.com"


def test_a_result_carries_api_mt_fields_then_src() -> None:
    reply = result({"api": "PbxApi", "mt": "GetNodeInfo", "src": "7"}, {"name": "root"})
    assert list(reply.items()) == [
        ("api", "PbxApi"),
        ("mt", "GetNodeInfoResult"),
        ("name", "root"),
        ("src", "7"),
    ]


async def test_withhold_counts_down_then_answers_again() -> None:
    wire = Wire(FrameLog())
    wire.withholds.append(Withhold("GetNodeInfo", "PbxApi", 2))
    sent: list[str] = []

    async def record(text: str) -> None:
        sent.append(text)

    wire.send_text = record  # type: ignore[method-assign]
    for src in "123":
        await wire.reply({"api": "PbxApi", "mt": "GetNodeInfo", "src": src}, {})
    assert [m["src"] for m in wire.withheld] == ["1", "2"] and len(sent) == 1
    assert not wire.withholds


async def test_waiting_for_a_frame_times_out_with_what_came() -> None:
    log = FrameLog()
    log.add(1, "received", '{"mt":"Hello"}')
    with pytest.raises(TimeoutError, match=r"1 frames so far.*Hello"):
        await log.wait_for(lambda f: f.mt == "Never", since=0, timeout=0.01)
    # Runs once the wait below is suspended: the frame arrives while it waits.
    asyncio.get_running_loop().call_soon(log.add, 1, "received", '{"mt":"Later"}')
    assert (await log.wait_for(lambda f: f.mt == "Later", since=1, timeout=5)).index == 1


def test_service_and_app_logins_sign_real_digests() -> None:
    pbx = FakePbx(
        "ws://h/apps/a",
        password="p",
        sip="obj",
        domain="pbx.example",
        services=[{"name": "s@x", "url": "wss://x/apps/other"}],
        service_passwords={"s@x": "sp"},
        app_passwords={"a": "ap"},
    )
    login = pbx.services.login("s@x", "99")
    assert login["app"] == "other" and protocol.verify_login(login, "99", "sp")
    assert pbx.services.login("s@x", "a:b")["error"] == "bad-challenge"
    digest = pbx.admin.app_login("a", "77")["digest"]
    assert protocol.verify_login(
        {"app": "a", "domain": "pbx.example", "digest": digest}, "77", "ap"
    )
    assert pbx.admin.app_login("b", "77")["error"] == "unknown-app"


def test_get_object_finds_users_and_the_app_object_without_passwords() -> None:
    alice = new_user("alice")
    pbx = FakePbx("ws://h/apps/a", password="p", users=[alice])
    assert pbx.admin.get_object({"guid": alice["guid"]})["h323"] == "alice"
    assert "pwd" not in pbx.admin.get_object({"h323": "alice"})
    assert pbx.admin.get_object({"h323": "a"})["guid"] == pbx.identity.guid
    assert pbx.admin.get_object({"cn": "nobody"})["error"] == "not-found"
    assert pbx.admin.get_object({})["error"] == "bad-request"


async def test_presence_calls_need_a_registration() -> None:
    pbx = FakePbx("ws://h/apps/a", password="p")
    with pytest.raises(RuntimeError, match="Register"):
        await pbx.subscribe_presence("alice")


def _users_wire() -> tuple[Wire, list[dict[str, object]]]:
    import json

    wire = Wire(FrameLog())
    sent: list[dict[str, object]] = []

    async def record(text: str) -> None:
        sent.append(json.loads(text))

    wire.send_text = record  # type: ignore[method-assign]
    return wire, sent


async def test_replicate_next_before_replicate_start_is_an_error() -> None:
    from appws.testing.fakepbx.users import UsersTable

    wire, sent = _users_wire()
    table = UsersTable()
    await table.serve(wire, {"api": "PbxTableUsers", "mt": "ReplicateNext", "src": "1"})
    assert sent[-1]["mt"] == "ReplicateNextResult" and sent[-1]["error"] == "no-replication"


@pytest.mark.parametrize(
    "start",
    [
        {},
        {"columns": ["guid"]},
        {"columns": {"guid": True}},
        {"columns": {"guid": {}}, "pseudo": ""},
        {"columns": {"guid": {}}, "add": "no"},
    ],
)
async def test_a_malformed_replicate_start_is_refused(start: dict[str, object]) -> None:
    from appws.testing.fakepbx.users import UsersTable

    wire, sent = _users_wire()
    table = UsersTable()
    await table.serve(wire, {"api": "PbxTableUsers", "mt": "ReplicateStart", "src": "1", **start})
    assert sent[-1]["error"] == "bad-request" and table.replications == []


async def test_the_copy_serves_only_the_object_kinds_asked_for() -> None:
    from appws.testing.fakepbx.users import UsersTable

    table = UsersTable()
    table.load(
        [new_user("alice"), new_user("boss", pseudo="executive"), new_user("q", pseudo="waiting")]
    )
    for pseudo, expected in (([""], ["alice"]), (["", "executive"], ["alice", "boss"])):
        wire, sent = _users_wire()
        start = {"api": "PbxTableUsers", "mt": "ReplicateStart", "columns": {"guid": {}}}
        await table.serve(wire, {**start, "pseudo": pseudo, "src": "s"})
        for n in range(len(expected) + 1):
            await table.serve(wire, {"api": "PbxTableUsers", "mt": "ReplicateNext", "src": n})
        rows = [m["columns"] for m in sent if m["mt"] == "ReplicateNextResult" and "columns" in m]
        assert [row["h323"] for row in rows] == expected  # type: ignore[index]

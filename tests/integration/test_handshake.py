"""The login handshake, through Channels' communicator."""

from __future__ import annotations

import logging

import pytest

from appws import protocol
from appws.protocol import CloseCode


async def challenge_of(comm, **extra):
    reply = await comm.request({"mt": "AppChallenge", **extra})
    assert reply["mt"] == "AppChallengeResult"
    assert isinstance(reply["challenge"], str) and len(reply["challenge"]) == 16
    return reply


def signed(challenge: str, password: str, **fields):
    login = {"mt": "AppLogin", **fields}
    login["digest"] = protocol.login_digest(login, challenge, password)
    return login


async def assert_refused(comm, login, text_part: str):
    await comm.send_json_to(login)
    reply = await comm.receive_json_from()
    assert reply["mt"] == "AppLoginResult"
    assert reply["ok"] is False
    assert "error" not in reply  # the Go client decodes a numeric error as string and breaks
    assert text_part in reply["errorText"]
    closed = await comm.receive_output()
    assert closed == {"type": "websocket.close", "code": CloseCode.LOGIN_FAILED}
    return reply


async def test_login_success_sends_instance_domain_and_echoes_src(connect):
    comm = await connect()
    challenge = await challenge_of(comm, src="c1")
    assert challenge["src"] == "c1"
    login = signed(challenge["challenge"], "notes-secret", app="notes", sip="alice", dn="Alice")
    login["src"] = "login-1"
    reply = await comm.request(login)
    assert reply == {
        "mt": "AppLoginResult",
        "ok": True,
        "domain": "notes.example.com",
        "src": "login-1",
    }


async def test_instance_domain_defaults_to_host_header(connect):
    from appws.testing import AppwsCommunicator
    from tests.services import application

    comm = AppwsCommunicator(
        application, "/apps/pbxapp", headers=[(b"host", b"svc.example.org:8443")]
    )
    result = await comm.login("pbxapp", "pwd")
    assert result == {"mt": "AppLoginResult", "ok": True, "domain": "svc.example.org"}
    await comm.disconnect()


async def test_session_holds_login_fields_and_session_key(connect):
    info = {"appobj": "notes", "cn": "Alice Example", "apps": [{"name": "notes"}]}
    comm = await connect(
        login=("notes", "notes-secret"),
        sip="alice",
        dn="Alice",
        domain="example.com",
        guid="0" * 32,
        info=info,
        pbx_obj="notes",
    )
    reply = await comm.request({"mt": "Session"})
    assert reply["app"] == "notes"
    assert (reply["sip"], reply["dn"], reply["domain"], reply["guid"]) == (
        "alice",
        "Alice",
        "example.com",
        "0" * 32,
    )
    assert reply["info"] == info
    assert reply["pbxObj"] == "notes"
    key = comm.session_key
    assert reply["hash"] == protocol.keyed_hash(key, "seed", "text")
    assert protocol.decrypt(key, "seed1", reply["encrypted"]) == "hello"


async def test_pipelined_checkbuild_and_challenge_are_answered_in_order(connect, settings):
    settings.APPWS = {**settings.APPWS, "BUILD": "1a2b"}
    comm = await connect()
    await comm.send_json_to({"mt": "CheckBuild", "url": "https://h/apps/0f/notes.htm", "src": "b"})
    await comm.send_json_to({"mt": "AppChallenge", "src": "c"})
    first = await comm.receive_json_from()
    second = await comm.receive_json_from()
    assert first == {"mt": "CheckBuildResult", "url": "https://h/apps/1a2b/notes.htm", "src": "b"}
    assert second["mt"] == "AppChallengeResult" and second["src"] == "c"


async def test_wrong_password_is_refused_and_closed(connect):
    comm = await connect()
    challenge = (await challenge_of(comm))["challenge"]
    await assert_refused(comm, signed(challenge, "guess", app="notes"), "wrong digest")


async def test_login_without_challenge_fails(connect):
    comm = await connect()
    await assert_refused(
        comm, signed("0123456789abcdef", "notes-secret", app="notes"), "send AppChallenge"
    )


async def test_challenge_is_single_use_even_after_success(connect):
    comm = await connect()
    challenge = (await challenge_of(comm))["challenge"]
    login = signed(challenge, "notes-secret", app="notes")
    assert (await comm.request(login))["ok"] is True

    # The captured login replayed on another connection: that connection's
    # challenge differs, so the digest cannot match.
    other = await connect()
    await challenge_of(other)
    await assert_refused(other, login, "wrong digest")


async def test_failed_login_consumes_the_challenge(connect):
    comm = await connect()
    challenge = (await challenge_of(comm))["challenge"]
    await assert_refused(comm, signed(challenge, "bad", app="notes"), "wrong digest")
    # The connection is closed; nothing else is answered on it.
    await comm.send_json_to(signed(challenge, "notes-secret", app="notes"))
    assert await comm.receive_nothing()


async def test_new_challenge_replaces_the_old_one(connect):
    comm = await connect()
    old = (await challenge_of(comm))["challenge"]
    new = (await challenge_of(comm))["challenge"]
    assert old != new
    await assert_refused(comm, signed(old, "notes-secret", app="notes"), "wrong digest")

    comm2 = await connect()
    await challenge_of(comm2)
    newest = (await challenge_of(comm2))["challenge"]
    assert (await comm2.request(signed(newest, "notes-secret", app="notes")))["ok"] is True


@pytest.mark.parametrize(
    ("fields", "text"),
    [
        ({"app": "calendar"}, "not served here"),
        ({"app": "notes-admin"}, "not served at this URL"),
        ({"app": "notes", "sip": 5}, "'sip' must be a string"),
        ({"app": "notes", "info": [1, 2]}, "'info' must be an object"),
        ({"app": "notes", "pbxObj": {"x": 1}}, "'pbxObj' must be a string"),
    ],
)
async def test_refusals_say_why(connect, fields, text):
    comm = await connect()
    await challenge_of(comm)
    login = {"mt": "AppLogin", **fields, "digest": "0" * 64}
    await assert_refused(comm, login, text)


@pytest.mark.django_db(transaction=True)
async def test_app_served_but_not_configured(connect, settings):
    # Neither in settings nor in the App table.
    settings.APPWS = {**settings.APPWS, "APPS": {}}
    comm = await connect()
    challenge = (await challenge_of(comm))["challenge"]
    await assert_refused(comm, signed(challenge, "x", app="notes"), "not configured")


async def test_digest_over_raw_info_text_is_accepted(connect):
    comm = await connect()
    challenge = (await challenge_of(comm))["challenge"]
    # A Go/PHP-style client: escapes U+2028 and writes the float as it likes.
    raw_info = '{"cn":"A\\u2028B","lics":1.50}'
    digest = protocol.login_digest({"app": "notes"}, challenge, "notes-secret", info_text=raw_info)
    frame = f'{{"mt":"AppLogin","app":"notes","info":{raw_info},"digest":"{digest}"}}'
    await comm.send_to(text_data=frame)
    assert (await comm.receive_json_from())["ok"] is True


async def test_second_login_on_a_logged_in_connection_is_refused_without_closing(connect):
    comm = await connect(login=("notes", "notes-secret"))
    fresh = (await challenge_of(comm))["challenge"]
    reply = await comm.request(signed(fresh, "notes-secret", app="notes"))
    assert reply == {
        "mt": "AppLoginResult",
        "ok": False,
        "errorText": "already logged in on this connection",
    }
    assert (await comm.request({"mt": "ListNotes"}))["mt"] == "ListNotesResult"


async def test_logs_never_contain_password_or_digest(connect, caplog):
    caplog.set_level(logging.DEBUG, logger="appws")
    comm = await connect()
    challenge = (await challenge_of(comm))["challenge"]
    bad = signed(challenge, "wrong-password-xyz", app="notes", sip="mallory")
    await assert_refused(comm, bad, "wrong digest")
    ok = await connect(login=("notes", "notes-secret"), sip="alice")
    await ok.request({"mt": "ListNotes"})
    text = caplog.text
    assert "mallory" in text and "alice" in text  # logged, with the user
    for secret in ("notes-secret", "wrong-password-xyz", bad["digest"]):
        assert secret not in text


@pytest.mark.parametrize(
    ("fields", "text"),
    [
        ({"domain": "site:mallory:g:Mallory"}, "field 'domain' must not contain ':'"),
        ({"sip": "victim:x"}, "field 'sip' must not contain ':'"),
        ({"guid": "0:0"}, "field 'guid' must not contain ':'"),
        ({"dn": "Bob:Builder"}, "field 'dn' must not contain ':'"),
        ({"dn": 'Bob:{"appobj"', "info": {"cn": "x"}}, "field 'dn' must not contain ':{'"),
    ],
)
async def test_fields_that_make_the_digest_join_ambiguous_are_refused(connect, fields, text):
    # The digest is right: only the field's ':' is wrong.
    comm = await connect()
    challenge = (await challenge_of(comm))["challenge"]
    login = signed(challenge, "notes-secret", app="notes", **fields)
    reply = await assert_refused(comm, login, text)
    assert "ambiguous" in reply["errorText"]


@pytest.mark.parametrize(
    ("fields", "kind"),
    [
        ({"sip": "notes", "dn": "Admin", "guid": "0" * 32, "pbx_obj": "notes"}, "password"),
        ({"sip": "alice", "info": {"appobj": "notes", "cn": "Alice"}}, "user"),
        ({"sip": "notes-obj", "info": {"appobj": "notes-obj", "lics": 3}}, "pbx"),
        ({"sip": "alice", "info": {"appobj": "notes"}, "pbx_obj": "alice"}, "user"),
        ({"sip": "alice", "dn": "Room 1: desk", "info": {"appobj": "notes"}}, "user"),
    ],
)
async def test_session_carries_the_kind_of_its_login(connect, fields, kind):
    comm = await connect(login=("notes", "notes-secret"), **fields)
    assert (await comm.request({"mt": "Session"}))["kind"] == kind

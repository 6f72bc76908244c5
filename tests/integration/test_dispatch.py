"""Dispatch of messages to handlers after login, through the communicator."""

from __future__ import annotations

import logging

import pytest

NOTES = ("notes", "notes-secret")
ADMIN = ("notes-admin", "admin-secret")


@pytest.fixture
async def notes(connect):
    return await connect(login=NOTES)


async def test_before_login_only_the_handshake_is_served(connect):
    comm = await connect()
    for mt in ("ListNotes", "AppInfo", "PbxInfo", "AppCheckLogin", "Nonsense"):
        reply = await comm.request({"mt": mt, "src": "s"})
        assert reply == {
            "mt": f"{mt}Result",
            "error": "not-logged-in",
            "errorText": "log in first: send AppChallenge, then AppLogin",
            "src": "s",
        }
    # KeepAlive is accepted silently before login too.
    await comm.send_json_to({"mt": "KeepAlive"})
    assert await comm.receive_nothing()


async def test_returned_dict_is_the_result_with_src(notes):
    assert await notes.request({"mt": "ListNotes", "src": "7"}) == {
        "mt": "ListNotesResult",
        "notes": ["one", "two"],
        "src": "7",
    }
    assert await notes.request({"mt": "ListNotes"}) == {
        "mt": "ListNotesResult",
        "notes": ["one", "two"],
    }


async def test_custom_reply_mt(notes):
    assert await notes.request({"mt": "Renamed", "src": "r"}) == {"mt": "RenamedDone", "src": "r"}


async def test_sync_handler_runs_in_a_worker_thread(connect):
    admin = await connect("/apps/notes-admin", login=ADMIN)
    reply = await admin.request({"mt": "DeleteNote", "id": 3, "src": "d"})
    assert reply == {"mt": "DeleteNoteResult", "deleted": 3, "main_thread": False, "src": "d"}


async def test_permission_missing_is_forbidden_and_handler_not_run(notes):
    reply = await notes.request({"mt": "DeleteNote", "id": 3, "src": "d"})
    assert reply["mt"] == "DeleteNoteResult"
    assert reply["error"] == "forbidden"
    assert "auth.delete_user" in reply["errorText"]
    assert "deleted" not in reply and reply["src"] == "d"


async def test_none_sends_nothing(notes):
    await notes.send_json_to({"mt": "Quiet", "src": "q"})
    assert await notes.receive_nothing()


async def test_handler_may_reply_several_times(notes):
    await notes.send_json_to({"mt": "Multi", "src": "m"})
    parts = [await notes.receive_json_from() for _ in range(3)]
    assert parts == [{"mt": "MultiPart", "part": i, "src": "m"} for i in range(3)]
    assert await notes.receive_nothing()


async def test_appws_error_becomes_error_reply(notes):
    assert await notes.request({"mt": "Fail", "src": "f"}) == {
        "mt": "FailResult",
        "error": "not-found",
        "errorText": "there is no note 7",
        "src": "f",
    }


@pytest.mark.parametrize("mt", ["Crash", "SyncCrash", "BadReturn", "NotJson"])
async def test_unexpected_exception_is_internal_logged_and_connection_stays(notes, caplog, mt):
    caplog.set_level(logging.ERROR, logger="appws")
    reply = await notes.request({"mt": mt, "src": "x"})
    assert reply == {
        "mt": f"{mt}Result",
        "error": "internal",
        "errorText": "the service failed to handle this message",
        "src": "x",
    }
    assert "detail" not in str(reply)
    assert any(record.exc_info for record in caplog.records)
    assert (await notes.request({"mt": "ListNotes"}))["mt"] == "ListNotesResult"


async def test_unknown_mt_and_unknown_api(notes):
    assert await notes.request({"mt": "Nope", "src": "1"}) == {
        "mt": "NopeResult",
        "error": "unknown-mt",
        "errorText": "this service does not handle mt 'Nope'",
        "src": "1",
    }
    reply = await notes.request({"mt": "MonitorStart", "api": "Nope", "src": "2"})
    assert reply["error"] == "unknown-api" and reply["api"] == "Nope" and reply["src"] == "2"
    reply = await notes.request({"mt": "Nope", "api": "PbxSignal"})
    assert reply["error"] == "unknown-mt"


async def test_api_namespaces_route_and_echo_api(notes):
    assert await notes.request({"mt": "MonitorStart", "api": "PbxSignal", "src": "p"}) == {
        "mt": "MonitorStartResult",
        "monitoring": True,
        "api": "PbxSignal",
        "src": "p",
    }
    # The same mt without the api is a different message.
    assert (await notes.request({"mt": "MonitorStart"}))["error"] == "unknown-mt"


async def test_messages_are_processed_in_order(notes):
    for i in range(20):
        await notes.send_json_to({"mt": "Renamed" if i % 2 else "ListNotes", "src": str(i)})
    replies = [await notes.receive_json_from() for _ in range(20)]
    assert [r["src"] for r in replies] == [str(i) for i in range(20)]

"""The replication of a PBX's users on the wire: the copy, its batches, live changes, faults.

The test plays the PBX over the communicator; the store is in memory
(tests/pbx_users.py) and records what the replicator asked of it, in order.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from appws.pbx.users.replication import Limits
from appws.pbx.users.replicator import UserReplicator, columns_of, replicator
from appws.pbx.users.rows import DEFAULT_COLUMNS
from appws.pbx.users.store import ReplicaKey
from appws.server import features
from appws.testing.fakepbx import new_user, oversized_row, row_of_wrong_types, row_without_guid
from tests.pbx_peer import PBX_INFO, Pbx
from tests.pbx_users import API, FakeStore, replicating_pbx, serve_copy
from tests.services import ReplicatingService

# Every PBX connection is recorded in the database (appws.pbx's registry feature).
pytestmark = pytest.mark.django_db(transaction=True)

KEY = ReplicaKey("example.com", "pbx-main")


@pytest.fixture
async def store(monkeypatch: pytest.MonkeyPatch) -> FakeStore:
    fake = FakeStore()
    monkeypatch.setattr(replicator, "store", fake)
    monkeypatch.setattr(replicator, "limits", Limits(2, 1, 4096))
    return fake


async def live(pbx: Pbx, mt: str, columns: dict[str, Any], src: str) -> None:
    await pbx.send({"api": API, "mt": mt, "columns": columns, "src": src})


def test_the_replicator_is_registered_with_pbx_sessions() -> None:
    assert replicator in features.registered()
    assert isinstance(replicator, UserReplicator)


def test_the_columns_asked_for() -> None:
    assert columns_of(True) == DEFAULT_COLUMNS
    assert columns_of(False) == ()
    assert columns_of(("h323", "cn", "pwd", "h323")) == ("guid", "h323", "cn")
    assert columns_of(["guid", "e164"]) == ("guid", "e164")
    assert columns_of("h323") is None
    assert columns_of([1]) is None


async def test_the_initial_copy_asks_read_only_then_writes_batches_and_finishes(store):
    pbx = await replicating_pbx()
    rows = [new_user(f"u{n}") for n in range(5)]
    start = await serve_copy(pbx, rows)
    assert start["add"] is False and start["del"] is False
    assert start["columns"] == {name: {} for name in DEFAULT_COLUMNS}
    assert start["pseudo"] == ["", "executive"]
    await store.wait_for("finish_copy")
    assert store.calls == [
        ("set_running", KEY, True),
        ("begin_copy", KEY, "pbxapp", 1),
        ("write_copy_rows", 1, ["u0", "u1"]),
        ("write_copy_rows", 1, ["u2", "u3"]),
        ("write_copy_rows", 1, ["u4"]),
        ("finish_copy", 1),
    ]
    assert all("pwd" not in row.raw for row in store.rows.values())
    await pbx.close()
    await store.wait_for("set_running", 2)
    assert store.calls[-1] == ("set_running", KEY, False)


async def test_a_service_naming_columns_gets_those_and_the_guid(store, monkeypatch):
    monkeypatch.setattr(ReplicatingService, "replicate_users", ("h323", "e164"))
    pbx = await replicating_pbx()
    start = await serve_copy(pbx, [])
    assert start["columns"] == {"guid": {}, "h323": {}, "e164": {}}
    await store.wait_for("finish_copy")
    await pbx.close()


async def test_no_replication_without_the_opt_in_or_the_api(store, monkeypatch, caplog):
    monkeypatch.setattr(ReplicatingService, "announce", True)
    monkeypatch.setattr(ReplicatingService, "replicate_users", False)
    pbx = await replicating_pbx()
    # The features ran before the service's hook: nothing else came first.
    assert (await pbx.receive())["mt"] == "Connected"
    await pbx.close()
    monkeypatch.setattr(ReplicatingService, "replicate_users", True)
    pbx = await replicating_pbx(apis=("PbxApi",))
    assert (await pbx.receive())["mt"] == "Connected"
    await pbx.close()
    assert store.calls == []
    assert "does not enable 'PbxTableUsers' for App 'pbxapp'" in caplog.text


async def test_the_next_row_is_asked_for_while_a_batch_is_written(store, monkeypatch):
    # One row per batch: the first row's write blocks until the test releases it.
    monkeypatch.setattr(replicator, "limits", Limits(1, 1, 4096))
    store.block_writes = True
    pbx = await replicating_pbx()
    start = await pbx.receive()
    await pbx.answer(start, columns={})
    first = await pbx.receive()
    await pbx.answer(first, columns=new_user("alice"))
    assert await asyncio.to_thread(store.writing.wait, 2)
    # The write of alice has not returned, and the service asks for the next row already.
    second = await pbx.receive()
    assert second["mt"] == "ReplicateNext"
    assert "write_copy_rows" not in store.names()
    store.release.set()
    await pbx.answer(second)
    await store.wait_for("finish_copy")
    assert store.names()[-2:] == ["write_copy_rows", "finish_copy"]
    await pbx.close()


async def test_live_changes_during_the_copy_are_applied_after_it_in_order(store, monkeypatch):
    monkeypatch.setattr(replicator, "limits", Limits(10, 1, 4096))
    pbx = await replicating_pbx()
    alice, bob = new_user("alice"), new_user("bob")
    start = await pbx.receive()
    await pbx.answer(start, columns={})
    request = await pbx.receive()
    # Live messages carry the ReplicateStart's src, as real PBXs send them.
    await live(pbx, "ReplicateAdd", new_user("carol", guid="c" * 32), start["src"])
    await live(pbx, "ReplicateUpdate", {**alice, "cn": "Alice B"}, start["src"])
    await live(pbx, "ReplicateUpdate", {**alice, "cn": "Alice C"}, start["src"])
    await pbx.answer(request, columns=alice)
    request = await pbx.receive()
    await live(pbx, "ReplicateDel", {"guid": bob["guid"], "h323": "bob"}, request["src"])
    await pbx.answer(request, columns=bob)
    await pbx.answer(await pbx.receive())
    await store.wait_for("delete_rows")
    assert store.calls[2:] == [
        ("write_copy_rows", 1, ["alice", "bob"]),
        ("finish_copy", 1),
        ("apply_rows", [("carol", "Carol"), ("alice", "Alice C")]),
        ("delete_rows", [bob["guid"]]),
    ]
    assert sorted(row.h323 for row in store.rows.values()) == ["alice", "carol"]
    # After the copy, each change is applied as it comes.
    await live(pbx, "ReplicateUpdate", {**alice, "cn": "Alice D"}, start["src"])
    await store.wait_for("apply_rows", 2)
    assert store.calls[-1] == ("apply_rows", [("alice", "Alice D")])
    await pbx.close()


async def test_the_services_own_handlers_do_not_see_the_live_changes(store):
    pbx = await replicating_pbx()
    start = await serve_copy(pbx, [])
    await store.wait_for("finish_copy")
    await live(pbx, "ReplicateAdd", new_user("carol"), start["src"])
    await store.wait_for("apply_rows")
    # Handlers run in arrival order: had the handler run, its message would come first.
    assert (await pbx.comm.request({"mt": "Ping"}))["mt"] == "PingResult"
    await pbx.close()


async def test_bad_rows_are_skipped_counted_and_logged_without_their_content(store, caplog):
    caplog.set_level(logging.WARNING, logger="appws")
    bad = [row_without_guid(), row_of_wrong_types(), oversized_row(5000)]
    secrets = [row["pwd"] for row in bad]
    pbx = await replicating_pbx()
    start = await serve_copy(pbx, [new_user("alice"), *bad, "not a row", new_user("bob")])
    await store.wait_for("finish_copy")
    await live(pbx, "ReplicateDel", {"h323": "nobody"}, start["src"])
    await live(pbx, "ReplicateAdd", row_without_guid("later"), start["src"])
    await store.wait_until(lambda: store.skipped() == 6)
    written = [name for call in store.calls if call[0] == "write_copy_rows" for name in call[2]]
    assert written == ["alice", "bob"]
    warnings = [r for r in caplog.records if "skipped" in r.getMessage()]
    assert len(warnings) == 6
    assert f"guid {bad[1]['guid']!r}" in warnings[1].getMessage()
    assert "'cn'" in warnings[1].getMessage()  # the reason names the column
    assert "pwd" not in caplog.text
    assert not any(secret in caplog.text for secret in secrets)
    assert "wrongtypes" not in caplog.text and "xxxxx" not in caplog.text
    assert (await pbx.comm.request({"mt": "Ping"}))["mt"] == "PingResult"
    await pbx.close()


async def test_an_error_result_stops_the_copy_and_keeps_the_session(store, caplog):
    pbx = await replicating_pbx()
    start = await pbx.receive()
    await pbx.answer(start, columns={})
    request = await pbx.receive()
    await pbx.answer(request, columns=new_user("alice"))
    request = await pbx.receive()
    await pbx.answer(request, error="busy", errorText="try later")
    await store.wait_for("set_running", 2)
    assert "finish_copy" not in store.names()
    assert store.calls[-1] == ("set_running", KEY, False)
    assert "stopped, nothing is deleted" in caplog.text and "try later" in caplog.text
    assert (await pbx.comm.request({"mt": "Ping"}))["mt"] == "PingResult"
    await pbx.close()


async def test_an_error_on_replicate_start_stops_before_any_row(store, caplog):
    pbx = await replicating_pbx()
    start = await pbx.receive()
    await pbx.answer(start, error="no-access")
    await store.wait_for("set_running", 2)
    assert store.names() == ["set_running", "begin_copy", "set_running"]
    assert (await pbx.comm.request({"mt": "Ping"}))["mt"] == "PingResult"
    await pbx.close()


async def test_no_answer_stops_the_copy(store, settings, caplog):
    settings.APPWS = {**settings.APPWS, "PEER_REQUEST_TIMEOUT": 0.2}
    pbx = await replicating_pbx()
    start = await pbx.receive()
    await pbx.answer(start, columns={})
    await pbx.receive()  # a ReplicateNext never answered
    await store.wait_for("set_running", 2)
    assert "finish_copy" not in store.names()
    assert "PeerTimeout" in caplog.text
    await pbx.close()


async def test_the_pbx_leaving_mid_write_lets_the_write_finish_and_sweeps_nothing(store):
    store.block_writes = True
    pbx = await replicating_pbx()
    start = await pbx.receive()
    await pbx.answer(start, columns={})
    for name in ("alice", "bob"):
        await pbx.answer(await pbx.receive(), columns=new_user(name))
    assert await asyncio.to_thread(store.writing.wait, 2)
    await pbx.receive()  # the next ReplicateNext, never answered: the PBX goes away
    closing = asyncio.ensure_future(pbx.close())
    store.release.set()
    await closing
    await store.wait_for("set_running", 2)
    assert store.names() == ["set_running", "begin_copy", "write_copy_rows", "set_running"]


async def test_a_new_pbx_info_starts_a_new_copy(store):
    pbx = await replicating_pbx()
    await serve_copy(pbx, [new_user("alice")])
    await store.wait_for("finish_copy")
    await pbx.send({**PBX_INFO, "apis": [API]})
    await serve_copy(pbx, [new_user("bob")])
    await store.wait_for("finish_copy", 2)
    assert store.calls[-4:] == [
        ("set_running", KEY, True),
        ("begin_copy", KEY, "pbxapp", 2),
        ("write_copy_rows", 2, ["bob"]),
        ("finish_copy", 2),
    ]
    assert ("set_running", KEY, False) in store.calls[:-4]
    await pbx.close()


async def test_more_users_changed_than_the_queue_holds_copies_afresh(store, monkeypatch, caplog):
    monkeypatch.setattr(replicator, "limits", Limits(10, 1, 4096, live_waiting=2))
    pbx = await replicating_pbx()
    start = await pbx.receive()
    await pbx.answer(start, columns={})
    request = await pbx.receive()
    # Three users change while the copy runs: more than the queue holds.
    for name in ("carol", "dave", "erin"):
        await live(pbx, "ReplicateAdd", new_user(name), start["src"])
    await pbx.answer(request)  # the copy had no rows
    # What waited is dropped, and a fresh copy brings the replica up to date.
    carol, dave, erin = (new_user(name) for name in ("carol", "dave", "erin"))
    await serve_copy(pbx, [carol, dave, erin])
    await store.wait_for("finish_copy", 2)
    assert [call for call in store.calls if call[0] in ("begin_copy", "apply_rows")] == [
        ("begin_copy", KEY, "pbxapp", 1),
        ("begin_copy", KEY, "pbxapp", 2),
    ]
    assert sorted(row.h323 for row in store.rows.values()) == ["carol", "dave", "erin"]
    assert "more than 2 users changed before their changes were written" in caplog.text
    # Live changes are followed again after the second copy.
    await live(pbx, "ReplicateDel", {"guid": dave["guid"]}, start["src"])
    await store.wait_for("delete_rows")
    assert sorted(row.h323 for row in store.rows.values()) == ["carol", "erin"]
    await pbx.close()


async def test_a_failed_write_copies_afresh_on_the_same_session(store, monkeypatch, caplog):
    monkeypatch.setattr(replicator, "limits", Limits(2, 1, 4096, retry_delays=(0.0,)))
    store.failing["write_copy_rows"] = 1
    rows = [new_user(f"u{n}") for n in range(3)]
    pbx = await replicating_pbx()
    start = await pbx.receive()
    await pbx.answer(start, columns={})
    for row in rows[:2]:
        await pbx.answer(await pbx.receive(), columns=row)
    await store.wait_for("write_copy_rows failed")
    # The copy may ask on until it sees the failure: it ends there, and starts afresh
    # on the same session, sweeping nothing meanwhile.
    request = await pbx.receive()
    while request["mt"] == "ReplicateNext":
        await pbx.answer(request)
        request = await pbx.receive()
    assert request["mt"] == "ReplicateStart", request
    await pbx.answer(request, columns={})
    for row in [*rows, None]:
        await pbx.answer(await pbx.receive(), **({} if row is None else {"columns": row}))
    await store.wait_for("finish_copy")
    assert [call for call in store.calls if call[0] in ("begin_copy", "finish_copy")] == [
        ("begin_copy", KEY, "pbxapp", 1),
        ("begin_copy", KEY, "pbxapp", 2),
        ("finish_copy", 2),
    ]
    assert sorted(row.h323 for row in store.rows.values()) == ["u0", "u1", "u2"]
    assert "writing its users failed; copying them afresh in 0 s" in caplog.text
    assert (await pbx.comm.request({"mt": "Ping"}))["mt"] == "PingResult"
    await pbx.close()
    await store.wait_for("set_running", 3)
    assert store.calls[-1] == ("set_running", KEY, False)


async def test_a_failed_live_change_copies_afresh(store, monkeypatch, caplog):
    monkeypatch.setattr(replicator, "limits", Limits(2, 1, 4096, retry_delays=(0.0,)))
    alice, bob = new_user("alice"), new_user("bob")
    pbx = await replicating_pbx()
    start = await serve_copy(pbx, [alice])
    await store.wait_for("finish_copy")
    store.failing["apply_rows"] = 1
    await live(pbx, "ReplicateAdd", bob, start["src"])
    await store.wait_for("apply_rows failed")
    await serve_copy(pbx, [alice, bob])
    await store.wait_for("finish_copy", 2)
    assert sorted(row.h323 for row in store.rows.values()) == ["alice", "bob"]
    await pbx.close()


async def test_failures_in_a_row_wait_longer_and_a_completed_copy_resets_the_wait(
    store, monkeypatch, caplog
):
    delays = (0.0, 0.001, 0.002)
    monkeypatch.setattr(replicator, "limits", Limits(2, 1, 4096, retry_delays=delays))
    store.failing["begin_copy"] = 4  # the database is down at first
    alice, bob = new_user("alice"), new_user("bob")
    pbx = await replicating_pbx()
    start = await serve_copy(pbx, [alice])
    await store.wait_for("finish_copy")
    waits = [
        r.getMessage().rsplit(" in ", 1)[1] for r in caplog.records if "afresh in" in r.getMessage()
    ]
    assert waits == ["0 s", "0.001 s", "0.002 s", "0.002 s"]
    caplog.clear()
    store.failing["apply_rows"] = 1
    await live(pbx, "ReplicateAdd", bob, start["src"])
    await store.wait_for("apply_rows failed")
    await serve_copy(pbx, [alice, bob])
    await store.wait_for("finish_copy", 2)
    assert "copying them afresh in 0 s" in caplog.text  # the count started over
    await pbx.close()

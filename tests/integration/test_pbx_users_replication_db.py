"""The replicator writing through the real store, on SQLite and on PostgreSQL.

The test plays the PBX over the communicator, as in test_pbx_users_replicator.py;
the rows land in the models, and a second connection's copy sweeps what it lacked.
"""

from __future__ import annotations

from typing import Any

import pytest
from asgiref.sync import sync_to_async

from appws.models import PbxReplica, PbxUser
from appws.pbx.users.replication import Limits
from appws.pbx.users.replicator import replicator
from appws.testing.fakepbx import new_user, row_without_guid
from tests.pbx_users import API, RecordingStore, replicating_pbx, serve_copy

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("database")]


@pytest.fixture
async def store(monkeypatch: pytest.MonkeyPatch) -> RecordingStore:
    recording = RecordingStore()
    monkeypatch.setattr(replicator, "store", recording)
    monkeypatch.setattr(replicator, "limits", Limits(3, 1, 4096))
    return recording


@sync_to_async
def users() -> dict[str, str]:
    return dict(PbxUser.objects.values_list("h323", "cn"))


@sync_to_async
def replica() -> dict[str, Any]:
    return PbxReplica.objects.values(
        "running", "copy_done", "generation", "completed_generation", "skipped_rows"
    ).get(domain="example.com", pbx="pbx-main")


async def test_a_copy_and_live_changes_land_in_the_models(store):
    alice, bob = new_user("alice"), new_user("bob", emails=[{"email": "Bob@Example.com"}])
    rows = [alice, bob, row_without_guid(), *(new_user(f"u{n}") for n in range(5))]
    pbx = await replicating_pbx()
    start = await serve_copy(pbx, rows)
    await store.wait_for("finish_copy")
    assert sorted(await users()) == ["alice", "bob", "u0", "u1", "u2", "u3", "u4"]
    assert await replica() == {
        "running": True,
        "copy_done": True,
        "generation": 1,
        "completed_generation": 1,
        "skipped_rows": 1,
    }
    for mt, columns in (
        ("ReplicateUpdate", {**alice, "cn": "Alice Two"}),
        ("ReplicateDel", {"guid": bob["guid"]}),
        ("ReplicateAdd", new_user("carol")),
    ):
        await pbx.send({"api": API, "mt": mt, "columns": columns, "src": start["src"]})
    await store.wait_until(lambda: "carol" in str(store.calls))
    found = await users()
    assert found["alice"] == "Alice Two" and "bob" not in found and "carol" in found
    await pbx.close()
    await store.wait_for("set_running", 2)
    assert (await replica())["running"] is False


async def test_a_pbx_reconnecting_before_its_old_socket_closed_stays_running(store):
    rows = [new_user(f"u{n}") for n in range(4)]
    old = await replicating_pbx()
    await serve_copy(old, rows)
    await store.wait_for("finish_copy")
    new = await replicating_pbx()
    await serve_copy(new, rows)
    await store.wait_for("finish_copy", 2)
    await old.close()  # its end comes after the new session's start
    await store.wait_for("set_running", 3)
    assert await replica() == {
        "running": True,
        "copy_done": True,
        "generation": 2,
        "completed_generation": 2,
        "skipped_rows": 0,
    }
    await new.close()
    await store.wait_for("set_running", 4)
    assert (await replica())["running"] is False


async def test_only_a_completed_copy_sweeps(store):
    rows = [new_user(f"u{n}") for n in range(6)]
    pbx = await replicating_pbx()
    await serve_copy(pbx, rows)
    await store.wait_for("finish_copy")
    await pbx.close()
    # The next connection's copy stops after two rows: it deletes nothing.
    pbx = await replicating_pbx()
    start = await pbx.receive()
    await pbx.answer(start, columns={})
    for row in rows[:2]:
        await pbx.answer(await pbx.receive(), columns=row)
    await pbx.answer(await pbx.receive(), error="gone")
    await store.wait_for("set_running", 4)
    assert len(await users()) == 6
    assert (await replica())["completed_generation"] == 1
    await pbx.close()
    # A whole copy without u0 and u1 deletes them.
    pbx = await replicating_pbx()
    await serve_copy(pbx, rows[2:])
    await store.wait_for("finish_copy", 2)
    assert sorted(await users()) == ["u2", "u3", "u4", "u5"]
    await pbx.close()

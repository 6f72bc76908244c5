"""The replicated PBX users' store: copies, upserts, sweeps, the signal; SQLite and PostgreSQL."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connection, transaction

from appws.models import PbxReplica, PbxUser, PbxUserEmail, PbxUserGroup
from appws.pbx.users.query import find_users
from appws.pbx.users.rows import UserRow, clean_row
from appws.pbx.users.signals import pbx_user_changed
from appws.pbx.users.store import (
    NoHeldSweep,
    ReplicaKey,
    SweepOutcome,
    apply_rows,
    begin_copy,
    confirm_sweep,
    delete_rows,
    finish_copy,
    note_skipped,
    set_running,
    write_copy_rows,
)
from appws.testing.fakepbx.users import new_user

pytestmark = [pytest.mark.usefixtures("database"), pytest.mark.django_db]

KEY = ReplicaKey("example.com", "pbx1")
OTHER = ReplicaKey("example.com", "pbx2")


def user(h323: str, **columns: Any) -> UserRow:
    return clean_row(new_user(h323, **columns), max_bytes=100_000)


def copy(key: ReplicaKey, rows: list[UserRow], *, batch: int = 2) -> SweepOutcome:
    generation = begin_copy(key, "notes")
    for start in range(0, len(rows), batch):
        write_copy_rows(key, generation, rows[start : start + batch])
    return finish_copy(key, generation)


def names(key: ReplicaKey = KEY) -> list[str]:
    return sorted(PbxUser.objects.filter(replica__pbx=key.pbx).values_list("h323", flat=True))


@pytest.fixture
def changes() -> Iterator[list[dict[str, Any]]]:
    seen: list[dict[str, Any]] = []

    def record(sender: Any, **kwargs: Any) -> None:
        seen.append(kwargs)

    pbx_user_changed.connect(record)
    yield seen
    pbx_user_changed.disconnect(record)


def test_a_copy_writes_the_users_with_their_emails_groups_and_lists() -> None:
    alice = user(
        "alice",
        e164="201",
        apps="notes,phone",
        emails=[{"email": "Alice@Example.com"}],
        grps=[{"name": "sales", "mode": "active", "dyn": "in"}],
        devices=[{"hw": "phone-1", "pwd": "device-secret"}],
    )
    outcome = copy(KEY, [alice, user("bob"), user("carol")])
    assert outcome == SweepOutcome(deleted=0, held=False)
    assert names() == ["alice", "bob", "carol"]
    row = PbxUser.objects.get(guid=alice.guid)
    assert (row.e164, row.apps, row.lists) == ("201", ["notes", "phone"], alice.lists)
    assert list(row.emails.values_list("email", flat=True)) == ["alice@example.com"]
    assert list(row.groups.values_list("name", "mode", "dyn")) == [("sales", "active", "in")]
    replica = PbxReplica.objects.get(pbx="pbx1")
    assert (replica.app_name, replica.row_count, replica.generation) == ("notes", 3, 1)
    assert replica.copy_done and replica.running and replica.completed_generation == 1
    assert replica.last_change is not None


def test_a_second_copy_updates_changed_users_and_sweeps_the_missing() -> None:
    alice, bob, carol = user("alice"), user("bob"), user("carol")
    copy(KEY, [alice, bob, carol])
    changed = clean_row({**alice.raw, "cn": "Alice Liddell"}, max_bytes=100_000)
    outcome = copy(KEY, [changed, bob])
    assert outcome == SweepOutcome(deleted=1, held=False, would_delete=1)
    assert names() == ["alice", "bob"]
    assert PbxUser.objects.get(guid=alice.guid).cn == "Alice Liddell"
    assert PbxReplica.objects.get(pbx="pbx1").row_count == 2


def test_replicas_of_two_pbxs_are_apart() -> None:
    copy(KEY, [user("alice")])
    copy(OTHER, [user("bob")])
    copy(KEY, [user("carol"), *[user(f"u{i}") for i in range(3)]])
    assert names(OTHER) == ["bob"]


def test_an_interrupted_copy_deletes_nothing_and_the_next_complete_one_sweeps() -> None:
    alice, bob, carol = user("alice"), user("bob"), user("carol")
    copy(KEY, [alice, bob, carol])
    interrupted = begin_copy(KEY, "notes")
    write_copy_rows(KEY, interrupted, [alice])
    # The session dropped: no finish_copy. Everything is still there.
    assert names() == ["alice", "bob", "carol"]
    assert not PbxReplica.objects.get(pbx="pbx1").copy_done
    assert copy(KEY, [alice, bob]).deleted == 1
    assert names() == ["alice", "bob"]


def test_a_copy_older_than_a_completed_newer_one_does_not_sweep() -> None:
    alice, bob = user("alice"), user("bob")
    copy(KEY, [alice, bob])
    old = begin_copy(KEY, "notes")
    write_copy_rows(KEY, old, [alice])
    new = begin_copy(KEY, "notes")
    write_copy_rows(KEY, new, [alice, bob])
    assert finish_copy(KEY, new).deleted == 0
    assert finish_copy(KEY, old) == SweepOutcome(deleted=0, held=False)
    assert names() == ["alice", "bob"]
    assert PbxReplica.objects.get(pbx="pbx1").completed_generation == new


def test_an_older_copy_still_writing_cannot_lower_a_newer_mark() -> None:
    alice, bob = user("alice"), user("bob")
    copy(KEY, [alice, bob])
    old = begin_copy(KEY, "notes")
    new = begin_copy(KEY, "notes")
    write_copy_rows(KEY, new, [alice, bob])
    write_copy_rows(KEY, old, [alice, bob])  # late batches of the dropped session
    assert finish_copy(KEY, new).deleted == 0
    assert names() == ["alice", "bob"]


def test_a_user_added_live_during_a_copy_is_not_swept() -> None:
    copy(KEY, [user("alice"), user("bob")])
    generation = begin_copy(KEY, "notes")
    write_copy_rows(KEY, generation, [user("alice")])
    apply_rows(KEY, [user("dave")])
    finish_copy(KEY, generation)
    assert "dave" in names()


def test_finishing_a_copy_never_begun_is_refused() -> None:
    with pytest.raises(ValueError, match="never begun"):
        write_copy_rows(KEY, 1, [user("alice")])
    begin_copy(KEY, "notes")
    with pytest.raises(ValueError, match="take the generation from begin_copy"):
        finish_copy(KEY, 2)


def test_a_guid_twice_in_one_batch_keeps_the_last() -> None:
    alice = user("alice")
    again = clean_row({**alice.raw, "cn": "Second"}, max_bytes=100_000)
    generation = begin_copy(KEY, "notes")
    write_copy_rows(KEY, generation, [alice, again])
    assert list(PbxUser.objects.values_list("cn", flat=True)) == ["Second"]


def test_a_sweep_of_more_than_the_limit_is_held_until_confirmed(
    caplog: pytest.LogCaptureFixture,
) -> None:
    rows = [user(name) for name in ("alice", "bob", "carol", "dave")]
    copy(KEY, rows)
    with caplog.at_level(logging.WARNING, logger="appws.pbx.users"):
        outcome = copy(KEY, rows[:1])
    assert outcome == SweepOutcome(deleted=0, held=True, would_delete=3)
    assert names() == ["alice", "bob", "carol", "dave"]
    replica = PbxReplica.objects.get(pbx="pbx1")
    assert (replica.held_sweep, replica.held_generation) == (3, 2)
    assert replica.held_at is not None
    (record,) = [r for r in caplog.records if r.name == "appws.pbx.users"]
    assert record.levelno == logging.WARNING
    assert "'pbx1'" in record.getMessage() and "3 of its 4 users" in record.getMessage()
    assert confirm_sweep(KEY) == SweepOutcome(deleted=3, held=False, would_delete=3)
    assert names() == ["alice"]
    replica.refresh_from_db()
    assert (replica.held_sweep, replica.held_generation, replica.held_at) == (0, None, None)
    with pytest.raises(NoHeldSweep, match="No sweep of PBX 'pbx1' is held"):
        confirm_sweep(KEY)


def test_the_sweep_limit_is_a_setting(settings: Any) -> None:
    settings.APPWS = {**settings.APPWS, "PBX_USERS_SWEEP_LIMIT": 1}
    rows = [user(name) for name in ("alice", "bob", "carol")]
    copy(KEY, rows)
    assert copy(KEY, rows[:1]).deleted == 2


def test_a_later_copy_replaces_a_held_sweep() -> None:
    rows = [user(name) for name in ("alice", "bob", "carol")]
    copy(KEY, rows)
    assert copy(KEY, rows[:1]).held
    assert copy(KEY, rows).deleted == 0
    replica = PbxReplica.objects.get(pbx="pbx1")
    assert replica.held_generation is None
    with pytest.raises(NoHeldSweep):
        confirm_sweep(KEY)


def test_confirming_an_unknown_pbx_says_so() -> None:
    with pytest.raises(PbxReplica.DoesNotExist):
        confirm_sweep(ReplicaKey("example.com", "nowhere"))


def test_live_changes_and_deletes() -> None:
    alice = user("alice")
    copy(KEY, [alice, user("bob")])
    apply_rows(KEY, [clean_row({**alice.raw, "e164": "299"}, max_bytes=100_000), user("eve")])
    delete_rows(KEY, [user("bob").guid, PbxUser.objects.get(h323="bob").guid.upper()])
    assert names() == ["alice", "eve"]
    assert PbxUser.objects.get(h323="alice").e164 == "299"
    assert PbxReplica.objects.get(pbx="pbx1").row_count == 2


def test_skipped_rows_and_running_are_counted() -> None:
    note_skipped(KEY, 2)
    note_skipped(KEY, 1)
    set_running(KEY, True, app="notes")
    replica = PbxReplica.objects.get(pbx="pbx1")
    assert (replica.skipped_rows, replica.running, replica.app_name) == (3, True, "notes")
    set_running(KEY, False)
    replica.refresh_from_db()
    assert (replica.running, replica.app_name) == (False, "notes")


def test_an_old_session_stopping_after_a_newer_one_began_leaves_it_running() -> None:
    old = set_running(KEY, True, app="notes")
    old = begin_copy(KEY, "notes")
    new = set_running(KEY, True, app="notes")  # the PBX reconnected; its old socket lingers
    new = begin_copy(KEY, "notes")
    assert set_running(KEY, False, "notes", begun=old) == new
    assert PbxReplica.objects.get(pbx="pbx1").running is True
    set_running(KEY, False, "notes", begun=new)
    assert PbxReplica.objects.get(pbx="pbx1").running is False


def test_search_by_email_and_filter_by_group() -> None:
    copy(
        KEY,
        [
            user("alice", emails=[{"email": "Alice@Example.com"}], grps=[{"name": "Sales"}]),
            user("bob", emails=[{"email": "bob@example.com"}], grps=[{"name": "sales"}]),
            user("carol", grps=[{"name": "Sales"}, {"name": "support"}]),
        ],
    )
    copy(OTHER, [user("alice2", emails=[{"email": "alice@example.com"}])])
    assert sorted(u.h323 for u in find_users(email="ALICE@example.COM")) == ["alice", "alice2"]
    assert [u.h323 for u in find_users(email="alice@example.com", pbx="pbx1")] == ["alice"]
    # Group names are the PBX's: matched exactly, on SQLite as on PostgreSQL.
    assert sorted(u.h323 for u in find_users(group="Sales")) == ["alice", "carol"]
    assert [u.h323 for u in find_users(group="support", pbx="pbx1.example.com")] == ["carol"]
    assert list(find_users(group="Sales", email="bob@example.com")) == []


def test_no_pwd_in_any_column_of_any_table() -> None:
    secrets = ["top-secret-1", "device-secret-2", "deep-secret-3"]
    columns = new_user(
        "alice",
        pwd=secrets[0],
        devices=[{"hw": "x", "pwd": secrets[1], "more": [{"pwd": secrets[2]}]}],
        emails=[{"email": "a@example.com", "pwd": secrets[2]}],
    )
    generation = begin_copy(KEY, "notes")
    write_copy_rows(KEY, generation, [clean_row(columns, max_bytes=100_000)])
    finish_copy(KEY, generation)
    apply_rows(KEY, [clean_row(columns, max_bytes=100_000)])
    found = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")
            for values in cursor.fetchall():
                text = " ".join(str(value) for value in values)
                found += [(table, s) for s in secrets if s in text] + (
                    [(table, "pwd")] if '"pwd"' in text else []
                )
    assert PbxUser.objects.count() == 1 and PbxUserEmail.objects.count() == 1
    assert found == []


def test_memberships_are_replaced_with_the_user() -> None:
    alice = user("alice", emails=[{"email": "a@x.com"}], grps=[{"name": "g1"}])
    copy(KEY, [alice])
    apply_rows(
        KEY,
        [clean_row({**alice.raw, "emails": [], "grps": [{"name": "g2"}]}, max_bytes=10_000)],
    )
    assert PbxUserEmail.objects.count() == 0
    assert list(PbxUserGroup.objects.values_list("name", flat=True)) == ["g2"]


@pytest.mark.django_db(transaction=True)
def test_the_signal_fires_after_commit_with_what_changed(changes: list[dict[str, Any]]) -> None:
    alice, bob = user("alice"), user("bob")
    with transaction.atomic():
        generation = begin_copy(KEY, "notes")
        write_copy_rows(KEY, generation, [alice, bob])
        assert changes == []  # not before the commit
    assert len(changes) == 1
    assert sorted(u.h323 for u in changes[0]["added"]) == ["alice", "bob"]
    assert changes[0]["updated"] == [] and changes[0]["deleted"] == []
    assert changes[0]["replica"].pbx == "pbx1"
    finish_copy(KEY, generation)
    changes.clear()

    # A copy after a reconnect: unchanged users are not news; the changed one and the
    # one gone are.
    generation = begin_copy(KEY, "notes")
    write_copy_rows(KEY, generation, [clean_row({**alice.raw, "dn": "A"}, max_bytes=10_000)])
    finish_copy(KEY, generation)
    assert [[u.dn for u in c["updated"]] for c in changes] == [["A"], []]
    assert changes[1]["deleted"] == [bob.guid]
    changes.clear()

    apply_rows(KEY, [user("carol")])
    apply_rows(KEY, [clean_row({**alice.raw, "dn": "A"}, max_bytes=10_000)])  # no change
    delete_rows(KEY, [alice.guid])
    assert [([u.h323 for u in c["added"]], c["deleted"]) for c in changes] == [
        (["carol"], []),
        ([], [alice.guid]),
    ]


@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_write_sends_nothing(changes: list[dict[str, Any]]) -> None:
    with pytest.raises(RuntimeError), transaction.atomic():
        apply_rows(KEY, [user("alice")])
        raise RuntimeError("the caller's transaction failed")
    assert changes == []
    assert PbxUser.objects.count() == 0


def test_these_tests_run_on_the_database_they_name(database: str) -> None:
    assert connection.vendor == database
    assert PbxUser.objects.db == "default"

"""manage.py appws_pbx users / confirm-sweep: the replicated PBX users from a shell."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from appws.models import PbxUser, PbxUserEmail, PbxUserGroup
from appws.pbx.users.rows import clean_row
from appws.pbx.users.store import ReplicaKey, begin_copy, finish_copy, write_copy_rows
from appws.testing.fakepbx.users import new_user

pytestmark = pytest.mark.django_db

SECRET = "pbx-user-secret-7"


def replicate(pbx: str, *rows: dict[str, object], domain: str = "example.com") -> None:
    key = ReplicaKey(domain, pbx)
    generation = begin_copy(key, "notes")
    write_copy_rows(key, generation, [clean_row(row, max_bytes=100_000) for row in rows])
    finish_copy(key, generation)


def run(*args: str) -> str:
    out = StringIO()
    call_command("appws_pbx", *args, stdout=out)
    return out.getvalue()


def fails(*args: str) -> tuple[int, str]:
    with pytest.raises(CommandError) as caught:
        call_command("appws_pbx", *args, stdout=StringIO())
    return caught.value.returncode, str(caught.value)


@pytest.fixture
def two_pbxs() -> list[dict[str, object]]:
    rows = [
        new_user("alice", pwd=SECRET, e164="201", emails=[{"email": "a@example.com"}]),
        new_user("bob", pwd=SECRET, grps=[{"name": "sales", "mode": "active"}]),
        new_user("carol", pwd=SECRET),
    ]
    replicate("pbx1", *rows)
    replicate("pbx2", new_user("dave", pwd=SECRET))
    return rows


def test_users_lists_each_pbx_with_its_state_and_users(two_pbxs: object) -> None:
    text = run("users")
    assert "PBX pbx1.example.com (App notes): running, copy done, generation 1, 3 user(s)" in text
    assert "alice" in text and "201" in text and "a@example.com" in text and "dave" in text
    assert text.splitlines()[-1] == "4 PBX user(s)."
    assert SECRET not in text


def test_users_of_one_pbx_as_json(two_pbxs: object) -> None:
    (replica,) = json.loads(run("users", "--pbx", "pbx1", "--json"))
    assert (replica["pbx"], replica["row_count"], replica["held_sweep"]) == ("pbx1", 3, None)
    bob = next(user for user in replica["users"] if user["h323"] == "bob")
    assert bob["groups"] == [{"name": "sales", "mode": "active", "dyn": ""}]
    assert bob["user"] is None
    assert json.loads(run("--json", "users", "--pbx", "pbx2.example.com"))[0]["pbx"] == "pbx2"
    assert SECRET not in run("users", "--json")


def test_users_are_listed_by_name_with_emails_and_groups_in_the_pbx_order() -> None:
    emails = [{"email": "z@example.com"}, {"email": "a@example.com"}]
    groups = [{"name": "zeta", "mode": "active"}, {"name": "alpha", "mode": "active"}]
    replicate("pbx1", new_user("bob", emails=emails, grps=groups), new_user("al"))
    # An update moves a row on PostgreSQL: a list without an explicit order changes with it.
    PbxUserEmail.objects.filter(email="z@example.com").update(email="z@example.com")
    PbxUserGroup.objects.filter(name="zeta").update(name="zeta")
    PbxUser.objects.filter(h323="al").update(cn="Al")
    (replica,) = json.loads(run("users", "--json"))
    assert [user["h323"] for user in replica["users"]] == ["al", "bob"]
    assert replica["users"][1]["emails"] == ["z@example.com", "a@example.com"]
    assert [group["name"] for group in replica["users"][1]["groups"]] == ["zeta", "alpha"]


def test_an_unknown_pbx_is_bad_usage() -> None:
    code, message = fails("users", "--pbx", "nowhere")
    assert code == 2 and "No users of a PBX 'nowhere' are replicated" in message


def test_confirm_sweep_does_the_held_sweep(two_pbxs: list[dict[str, object]]) -> None:
    replicate("pbx1", two_pbxs[0])
    assert "sweep held: 2 to delete" in run("users", "--pbx", "pbx1")
    assert run("confirm-sweep", "--pbx", "pbx1").strip() == (
        "Deleted 2 PBX user(s) of pbx1.example.com."
    )
    assert sorted(PbxUser.objects.values_list("h323", flat=True)) == ["alice", "dave"]
    code, message = fails("confirm-sweep", "--pbx", "pbx1")
    assert code == 2 and "No sweep of PBX 'pbx1' is held" in message


def test_confirm_sweep_of_a_name_in_two_domains_asks_for_the_domain() -> None:
    replicate("pbx1", new_user("a"))
    replicate("pbx1", new_user("b"), domain="other.com")
    code, message = fails("confirm-sweep", "--pbx", "pbx1")
    assert code == 2 and "pbx1.example.com, pbx1.other.com" in message
    code, message = fails("confirm-sweep", "--pbx", "pbx1.other.com")
    assert "No sweep of PBX 'pbx1' is held" in message

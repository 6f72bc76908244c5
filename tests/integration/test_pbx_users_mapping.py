"""Linking replicated PBX users to Django users (PBX_USERS_MAP); SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User

from appws.models import PbxCreatedUser, PbxUser
from appws.pbx.users.mapping import sip_of_user
from appws.pbx.users.rows import UserRow, clean_row
from appws.pbx.users.store import (
    ReplicaKey,
    apply_rows,
    begin_copy,
    confirm_sweep,
    delete_rows,
    finish_copy,
    write_copy_rows,
)
from appws.testing.fakepbx.users import new_user

pytestmark = [pytest.mark.usefixtures("database"), pytest.mark.django_db]

KEY = ReplicaKey("example.com", "pbx1")


def user(h323: str, **columns: Any) -> UserRow:
    return clean_row(new_user(h323, **columns), max_bytes=100_000)


def copy(rows: list[UserRow]) -> None:
    generation = begin_copy(KEY, "notes")
    write_copy_rows(KEY, generation, rows)
    finish_copy(KEY, generation)


def linked(h323: str) -> User | None:
    found = PbxUser.objects.select_related("user").get(h323=h323).user
    assert found is None or isinstance(found, User)
    return found


@pytest.fixture
def mapping(settings: Any) -> Any:
    def turn_on(**options: bool) -> None:
        settings.APPWS = {
            **settings.APPWS,
            "PBX_USERS_MAP": True,
            **{f"PBX_USERS_MAP_{key.upper()}": value for key, value in options.items()},
        }

    return turn_on


def test_off_by_default_nothing_is_linked_or_created() -> None:
    User.objects.create_user("alice")
    copy([user("alice")])
    assert linked("alice") is None
    assert User.objects.count() == 1


def test_created_users_are_inactive_without_a_password_and_recorded(mapping: Any) -> None:
    mapping(create=True)
    copy([user("alice", emails=[{"email": "Alice@Example.com"}])])
    alice = linked("alice")
    assert alice is not None and alice.username == "alice"
    assert alice.email == "alice@example.com"
    assert not alice.is_active and not alice.has_usable_password()
    assert PbxCreatedUser.objects.filter(user=alice).exists()
    assert sip_of_user(alice) == ["alice"]


def test_created_users_may_be_active(mapping: Any) -> None:
    mapping(create=True, active=True)
    copy([user("alice")])
    alice = linked("alice")
    assert alice is not None and alice.is_active


def test_without_create_an_unknown_user_stays_unlinked(mapping: Any) -> None:
    mapping()
    copy([user("alice")])
    assert linked("alice") is None
    assert User.objects.count() == 0


def test_never_links_to_users_it_did_not_create_unless_allowed(mapping: Any) -> None:
    existing = User.objects.create_user("alice", email="a@example.com")
    mapping(create=True)
    copy([user("alice"), user("other", emails=[{"email": "A@example.com"}])])
    assert linked("alice") is None
    # Nor does it create a second account for someone who has one (same name or email).
    assert linked("other") is None
    assert list(User.objects.all()) == [existing]
    mapping(create=True, existing=True)
    apply_rows(
        KEY, [clean_row({**PbxUser.objects.get(h323="alice").raw, "dn": "x"}, max_bytes=10_000)]
    )
    assert linked("alice") == existing


def test_links_by_email_when_no_username_matches(mapping: Any) -> None:
    existing = User.objects.create_user("a.smith", email="Alice@Example.com")
    mapping(existing=True)
    copy([user("alice", emails=[{"email": "alice@example.COM"}])])
    assert linked("alice") == existing
    assert sip_of_user(existing) == ["alice"]


def test_an_email_of_two_users_links_to_neither(mapping: Any) -> None:
    User.objects.create_user("a1", email="shared@example.com")
    User.objects.create_user("a2", email="shared@example.com")
    mapping(existing=True)
    copy([user("alice", emails=[{"email": "shared@example.com"}])])
    assert linked("alice") is None


@pytest.mark.parametrize("flag", ["is_staff", "is_superuser"])
def test_never_links_to_staff_or_superusers_unless_allowed(mapping: Any, flag: str) -> None:
    admin = User.objects.create_user("alice", **{flag: True})
    mapping(create=True, existing=True)
    copy([user("alice")])
    assert linked("alice") is None
    assert User.objects.count() == 1
    mapping(create=True, existing=True, staff=True)
    apply_rows(KEY, [user("alice", guid=PbxUser.objects.get(h323="alice").guid, dn="x")])
    assert linked("alice") == admin


def test_a_created_user_that_became_staff_is_not_linked_again(mapping: Any) -> None:
    mapping(create=True)
    copy([user("alice")])
    alice = linked("alice")
    assert alice is not None
    User.objects.filter(pk=alice.pk).update(is_staff=True)
    apply_rows(KEY, [user("alice", guid=PbxUser.objects.get(h323="alice").guid, dn="x")])
    assert linked("alice") is None


def test_deleting_never_deletes_a_django_user_and_deactivates_only_created_ones(
    mapping: Any,
) -> None:
    existing = User.objects.create_user("bob")
    mapping(create=True, active=True, existing=True)
    copy([user("alice"), user("bob")])
    alice = linked("alice")
    assert alice is not None and linked("bob") == existing
    delete_rows(KEY, list(PbxUser.objects.values_list("guid", flat=True)))
    assert PbxUser.objects.count() == 0
    alice.refresh_from_db()
    existing.refresh_from_db()
    assert not alice.is_active  # created by the mapping: deactivated
    assert existing.is_active  # not: left alone
    assert User.objects.count() == 2


def test_after_a_sweep_and_a_new_copy_the_link_comes_back(mapping: Any) -> None:
    mapping(create=True, active=True)
    rows = [user("alice"), user("bob"), user("carol")]
    copy(rows)
    alice = linked("alice")
    assert alice is not None
    copy([rows[1]])  # two of three gone: held
    confirm_sweep(KEY)
    alice.refresh_from_db()
    assert not alice.is_active
    copy([user("alice"), rows[1]])  # alice is back, with a new guid
    assert linked("alice") == alice
    alice.refresh_from_db()
    assert alice.is_active
    assert User.objects.filter(username="alice").count() == 1


def test_a_user_deactivated_by_the_site_stays_inactive(mapping: Any) -> None:
    mapping(create=True, active=True)
    alice = user("alice")
    copy([alice])
    django_user = linked("alice")
    assert django_user is not None
    User.objects.filter(pk=django_user.pk).update(is_active=False)  # the site's decision
    delete_rows(KEY, [alice.guid])
    copy([user("alice")])
    django_user.refresh_from_db()
    assert linked("alice") == django_user and not django_user.is_active


def test_an_overlong_name_creates_no_user(mapping: Any) -> None:
    mapping(create=True)
    copy([user("a" * 200), user("bob")])
    assert linked("a" * 200) is None
    assert linked("bob") is not None


def test_sip_of_user_without_links() -> None:
    assert sip_of_user(User.objects.create_user("nobody")) == []
    assert sip_of_user(None) == []

"""The admin: replicated PBX users (read-only, searchable) and each PBX's replication state."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client

from appws.models import PbxReplica, PbxUser
from appws.pbx.users.rows import clean_row
from appws.pbx.users.store import ReplicaKey, begin_copy, finish_copy, write_copy_rows
from appws.testing.fakepbx.users import new_user
from tests.integration.test_admin import admin, superuser

__all__ = ["admin", "superuser"]  # fixtures

pytestmark = pytest.mark.django_db

USERS = "/admin/appws/pbxuser/"
REPLICAS = "/admin/appws/pbxreplica/"
SECRET = "pbx-user-secret-9"


def replicate(pbx: str, *rows: dict[str, object]) -> None:
    key = ReplicaKey("example.com", pbx)
    generation = begin_copy(key, "notes")
    write_copy_rows(key, generation, [clean_row(row, max_bytes=100_000) for row in rows])
    finish_copy(key, generation)


@pytest.fixture
def users() -> None:
    replicate(
        "pbx1",
        new_user(
            "alice",
            pwd=SECRET,
            cn="Alice Liddell",
            e164="201",
            emails=[{"email": "Alice@Example.com"}],
            grps=[{"name": "sales"}],
            devices=[{"hw": "phone", "pwd": SECRET}],
        ),
        new_user("bob", pwd=SECRET, e164="202", grps=[{"name": "support"}]),
    )
    replicate("pbx2", new_user("carol", pwd=SECRET, e164="301", grps=[{"name": "sales"}]))


def listed(client: Client, query: str = "") -> list[str]:
    response = client.get(USERS + query)
    assert response.status_code == 200
    return sorted(user.h323 for user in response.context["cl"].result_list)


@pytest.mark.usefixtures("users")
@pytest.mark.parametrize(
    ("query", "found"),
    [
        ("", ["alice", "bob", "carol"]),
        ("?q=Liddell", ["alice"]),
        ("?q=202", ["bob"]),
        ("?q=carol", ["carol"]),
        ("?q=alice@example.com", ["alice"]),
        ("?group=sales", ["alice", "carol"]),
        ("?group=support", ["bob"]),
    ],
)
def test_the_user_list_searches_and_filters(admin: Client, query: str, found: list[str]) -> None:
    assert listed(admin, query) == found


@pytest.mark.usefixtures("users")
def test_the_user_list_filters_by_pbx(admin: Client) -> None:
    replica = PbxReplica.objects.get(pbx="pbx2")
    assert listed(admin, f"?replica__id__exact={replica.pk}") == ["carol"]


@pytest.mark.usefixtures("users")
def test_no_page_shows_the_pwd(admin: Client) -> None:
    alice = PbxUser.objects.get(h323="alice")
    pages = [
        admin.get(USERS).content.decode(),
        admin.get(f"{USERS}{alice.pk}/change/").content.decode(),
        admin.get(REPLICAS).content.decode(),
    ]
    assert "Alice Liddell" in pages[1] and "phone" in pages[1]  # the row is shown
    for page in pages:
        assert SECRET not in page and "pwd" not in page


@pytest.mark.usefixtures("users")
def test_pbx_users_are_read_only(admin: Client) -> None:
    alice = PbxUser.objects.get(h323="alice")
    assert admin.get(f"{USERS}add/").status_code == 403
    assert admin.post(f"{USERS}{alice.pk}/change/", {"h323": "mallory"}).status_code == 403
    assert admin.post(f"{USERS}{alice.pk}/delete/", {"post": "yes"}).status_code == 403
    assert PbxUser.objects.get(pk=alice.pk).h323 == "alice"


@pytest.mark.usefixtures("users")
def test_the_lists_need_the_view_permission() -> None:
    clerk = User.objects.create_user("clerk", is_staff=True)
    client = Client()
    client.force_login(clerk)
    assert client.get(USERS).status_code == 403
    assert client.get(REPLICAS).status_code == 403
    clerk.user_permissions.add(Permission.objects.get(codename="view_pbxuser"))
    assert listed(client) == ["alice", "bob", "carol"]


def test_the_replica_list_shows_the_state_and_confirms_a_held_sweep(admin: Client) -> None:
    rows = [new_user(name) for name in ("alice", "bob", "carol")]
    replicate("pbx1", *rows)
    replicate("pbx1", rows[0])  # two of three gone: held
    replica = PbxReplica.objects.get(pbx="pbx1")
    page = admin.get(REPLICAS).content.decode()
    assert "pbx1.example.com" in page and "2 users to delete (copy 2" in page
    response = admin.post(
        REPLICAS,
        {"action": "confirm_held_sweep", "_selected_action": [replica.pk]},
        follow=True,
    )
    assert "Confirmed 1 held sweep(s): deleted 2 PBX user(s)." in response.content.decode()
    assert list(PbxUser.objects.values_list("h323", flat=True)) == ["alice"]
    response = admin.post(
        REPLICAS,
        {"action": "confirm_held_sweep", "_selected_action": [replica.pk]},
        follow=True,
    )
    assert "None of these PBXs has a sweep held." in response.content.decode()


def test_confirming_needs_the_permission_to_delete_pbx_users() -> None:
    rows = [new_user(name) for name in ("alice", "bob", "carol")]
    replicate("pbx1", *rows)
    replicate("pbx1", rows[0])
    viewer = User.objects.create_user("viewer", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_pbxreplica"))
    client = Client()
    client.force_login(viewer)
    replica = PbxReplica.objects.get(pbx="pbx1")
    page = client.get(REPLICAS).content.decode()
    assert "confirm_held_sweep" not in page
    client.post(REPLICAS, {"action": "confirm_held_sweep", "_selected_action": [replica.pk]})
    assert PbxUser.objects.count() == 3

"""The PBX's users in the demo: who may open Notes, and the landing page's live list.

The PBX administrator grants Apps to users in the PBX (a user's ``apps`` column); the
demo follows that: a Django user the mapping links to a PBX user holds the access
permission of each notes App (``notes``, ``notes-admin``) exactly while one of its PBX
users lists that App. Only that direct permission is granted and taken away; a group's
grant, staff members and superusers are never touched.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.db import transaction
from django.db.models import Q, QuerySet
from django.dispatch import receiver

from appws import notify_on_commit
from appws.models import App, PbxReplica, PbxUser
from appws.pbx.users.signals import pbx_user_changed

#: The Apps of the notes service a PBX user's ``apps`` column may grant.
NOTES_APPS = ("notes", "notes-admin")
#: The landing page's subscribers get {"mt": USERS_CHANGED} (no names: they ask again).
USERS_TOPIC = "pbx-users"
USERS_CHANGED = "PbxUsersChanged"
#: The landing page lists at most this many, then says how many more there are.
LIST_LIMIT = 100


def listed_users(limit: int = LIST_LIMIT) -> tuple[list[dict[str, str]], int]:
    """The users the notes service replicates to list (name, number), by name, and their total.

    Users the PBX hides from its directory (``hide``) are left out.
    """
    shown = PbxUser.objects.filter(replica__app_name__in=NOTES_APPS, hide=False)
    rows = shown.order_by("cn", "h323", "pk").values("guid", "h323", "cn", "dn", "e164")
    users = [
        {"guid": row["guid"], "name": row["cn"] or row["dn"] or row["h323"], "number": row["e164"]}
        for row in rows[:limit]
    ]
    return users, shown.count()


def _access_permissions() -> dict[str, Permission]:
    apps = App.objects.filter(name__in=NOTES_APPS).select_related("access_permission")
    return {app.name: app.access_permission for app in apps if app.access_permission is not None}


def sync_access(users: QuerySet[Any]) -> None:
    """Grant or take away each notes App's access, as the users' PBX ``apps`` say.

    A fixed number of queries, however many users: an initial copy sends batches of 500.
    """
    permissions = _access_permissions()
    # The site's administrators decide about those themselves.
    ids = set(users.filter(is_staff=False, is_superuser=False).values_list("pk", flat=True))
    granted: dict[str, set[int]] = {name: set() for name in permissions}
    theirs = PbxUser.objects.filter(user__in=ids, replica__app_name__in=NOTES_APPS)
    for user_id, apps in theirs.values_list("user", "apps"):
        for name in set(apps or ()) & granted.keys():
            granted[name].add(user_id)
    through = get_user_model().user_permissions.through
    for name, permission in permissions.items():
        through.objects.filter(permission=permission, user__in=ids - granted[name]).delete()
        through.objects.bulk_create(
            [through(user_id=user_id, permission=permission) for user_id in granted[name]],
            ignore_conflicts=True,
        )


@receiver(pbx_user_changed, dispatch_uid="demo_site.notes.pbx_users")
def users_changed(
    sender: type[PbxReplica],
    replica: PbxReplica,
    added: list[PbxUser],
    updated: list[PbxUser],
    deleted: list[str],
    **kwargs: Any,
) -> None:
    """Follow the PBX's grants of the notes Apps; tell open landing pages to list again."""
    if replica.app_name not in NOTES_APPS:
        return  # a PBX another service of the site replicates: not the demo's
    guids = [user.guid for user in (*added, *updated)]
    # Read back: the mapping linked them in the write that sent this signal.
    linked = Q(pbx_users__replica=replica, pbx_users__guid__in=guids)
    if deleted:
        # A user whose PBX users are all gone keeps no grant (the mapping deactivates it too).
        linked |= Q(pbx_created__isnull=False, pbx_users__isnull=True)
    with transaction.atomic():
        sync_access(get_user_model()._default_manager.filter(linked))
    notify_on_commit(USERS_TOPIC, {"mt": USERS_CHANGED})

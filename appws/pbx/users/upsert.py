"""Writing a batch of user rows into a replica with a fixed number of bulk queries.

A row whose content (its digest) is unchanged only has its mark raised; changed and
new rows are upserted by (replica, guid) in one statement, and their emails and group
memberships replaced. Marks only ever rise, so two copies writing at once cannot make
one sweep a row the other holds.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from django.utils import timezone

from appws.models import PbxReplica, PbxUser, PbxUserEmail, PbxUserGroup
from appws.pbx.users.rows import UserRow

__all__ = ["Written", "digest", "upsert"]

#: The fields an upsert sets on a row that exists already.
UPDATED_FIELDS = [
    "h323", "cn", "dn", "e164", "node", "loc", "hide", "apps", "lists", "raw",
    "digest", "generation", "updated",
]  # fmt: skip


@dataclass
class Written:
    """The users a batch added and updated; ``unlinked``: unchanged ones with no Django user."""

    added: list[PbxUser] = field(default_factory=list)
    updated: list[PbxUser] = field(default_factory=list)
    unlinked: list[PbxUser] = field(default_factory=list)


def digest(row: UserRow) -> str:
    """A fingerprint of everything stored of ``row`` (every field derives from ``raw``)."""
    text = json.dumps(row.raw, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def upsert(
    replica: PbxReplica, rows: Sequence[UserRow], mark: int, *, unlinked: bool = False
) -> Written:
    """Write ``rows`` (the last of a guid sent twice wins), marking each at least ``mark``.

    ``unlinked``: also return the unchanged rows linked to no Django user (to map them).
    """
    latest = {row.guid: row for row in rows}
    existing = {
        guid: (generation, fingerprint, user_id)
        for guid, generation, fingerprint, user_id in PbxUser.objects.filter(
            replica=replica, guid__in=latest
        ).values_list("guid", "generation", "digest", "user_id")
    }
    now = timezone.now()
    changed: list[PbxUser] = []
    unchanged: list[str] = []
    for guid, row in latest.items():
        fingerprint = digest(row)
        old = existing.get(guid)
        if old is not None and old[1] == fingerprint:
            unchanged.append(guid)
            continue
        built = _user(replica, row, fingerprint, max(mark, old[0] if old else 0), now)
        # The upsert leaves the link alone: the object says what the table holds.
        built.user_id = old[2] if old else None
        changed.append(built)
    if unchanged:
        PbxUser.objects.filter(replica=replica, guid__in=unchanged, generation__lt=mark).update(
            generation=mark
        )
    written = Written()
    if unchanged and unlinked:
        written.unlinked = list(
            PbxUser.objects.filter(replica=replica, guid__in=unchanged, user=None)
        )
    if not changed:
        return written
    # One statement whatever the mix of new and known guids: a second process
    # inserting the same guid meanwhile updates instead of failing the batch.
    PbxUser.objects.bulk_create(
        changed,
        update_conflicts=True,
        unique_fields=["replica", "guid"],
        update_fields=UPDATED_FIELDS,
    )
    users = changed
    if any(user.pk is None for user in changed):  # a database that returns no ids here
        users = list(PbxUser.objects.filter(replica=replica, guid__in=[u.guid for u in changed]))
    _replace_memberships(users, latest, [user.pk for user in users if user.guid in existing])
    for user in users:
        (written.updated if user.guid in existing else written.added).append(user)
    return written


def _user(
    replica: PbxReplica, row: UserRow, fingerprint: str, generation: int, now: datetime
) -> PbxUser:
    return PbxUser(
        replica=replica,
        guid=row.guid,
        h323=row.h323,
        cn=row.cn,
        dn=row.dn,
        e164=row.e164,
        node=row.node,
        loc=row.loc,
        hide=row.hide,
        apps=list(row.apps),
        lists=row.lists,
        raw=row.raw,
        digest=fingerprint,
        generation=generation,
        updated=now,
    )


def _replace_memberships(users: list[PbxUser], rows: dict[str, UserRow], known: list[int]) -> None:
    """The emails and groups of ``users``; ``known``: those that may have some already."""
    if known:
        PbxUserEmail.objects.filter(user_id__in=known).delete()
        PbxUserGroup.objects.filter(user_id__in=known).delete()
    PbxUserEmail.objects.bulk_create(
        PbxUserEmail(user=user, email=email) for user in users for email in rows[user.guid].emails
    )
    PbxUserGroup.objects.bulk_create(
        PbxUserGroup(user=user, name=name, mode=mode, dyn=dyn)
        for user in users
        for name, mode, dyn in rows[user.guid].groups
    )

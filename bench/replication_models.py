"""Workload 10's database side: counting a PBX's replicated users, and the plain script's insert.

The plain script is what a site would write without appws: the row's columns straight
into the models with ``bulk_create``, one transaction per batch, ``pwd`` left out; no
checks, no digest, no mark and sweep, no signal.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from appws.models import PbxReplica, PbxUser, PbxUserEmail, PbxUserGroup

DOMAIN = "example.com"
TEXT = ("h323", "cn", "dn", "e164", "node", "loc")


def count_rows(pbx: str) -> int:
    """How many users of PBX ``pbx`` the database holds."""
    return PbxUser.objects.filter(replica__domain=DOMAIN, replica__pbx=pbx).count()


def still_running(pbx: str) -> bool:
    """Whether a session of the server still replicates ``pbx``."""
    return PbxReplica.objects.filter(domain=DOMAIN, pbx=pbx, running=True).exists()


def insert_plain(pbx: str, rows: list[dict[str, Any]]) -> None:
    """Insert ``rows`` (decoded columns) as users of ``pbx``, with emails and groups."""
    with transaction.atomic():
        replica, _ = PbxReplica.objects.get_or_create(domain=DOMAIN, pbx=pbx)
        now = timezone.now()
        users = [
            PbxUser(
                replica=replica,
                guid=row["guid"],
                hide=bool(row.get("hide")),
                apps=[name for name in row.get("apps", "").split(",") if name],
                raw={key: value for key, value in row.items() if key != "pwd"},
                updated=now,
                **{name: row.get(name, "") for name in TEXT},
            )
            for row in rows
        ]
        PbxUser.objects.bulk_create(users)
        PbxUserEmail.objects.bulk_create(
            PbxUserEmail(user=user, email=item["email"].lower())
            for user, row in zip(users, rows, strict=True)
            for item in row.get("emails", [])
        )
        PbxUserGroup.objects.bulk_create(
            PbxUserGroup(user=user, name=item["name"], mode=item.get("mode", ""))
            for user, row in zip(users, rows, strict=True)
            for item in row.get("grps", [])
        )

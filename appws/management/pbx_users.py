"""``manage.py appws_pbx users`` and ``confirm-sweep``: the replicated PBX users from a shell."""

from __future__ import annotations

import argparse
import json
from typing import Any

from django.core.management.base import CommandError, OutputWrapper
from django.db.models import Prefetch

from appws.cli import EXIT_USAGE
from appws.models import PbxReplica, PbxUser, PbxUserEmail, PbxUserGroup
from appws.pbx.users.query import find_replicas
from appws.pbx.users.store import NoHeldSweep, ReplicaKey, confirm_sweep

__all__ = ["add_parsers", "confirm", "list_users"]


def add_parsers(actions: Any) -> None:
    """The ``users`` and ``confirm-sweep`` actions of ``appws_pbx``."""
    users = actions.add_parser(
        "users",
        help="list the replicated PBX users with each PBX's replication state",
        description="List the PBX users replicated into the database, per PBX, with the "
        "state of its replication (running, copy done, generation, rows, skipped, held sweep).",
    )
    users.add_argument("--pbx", help="only this PBX: its name, or pbx.domain as listed")
    # SUPPRESS: an `appws_pbx --json users` keeps the flag given before the action.
    users.add_argument("--json", action="store_true", default=argparse.SUPPRESS)
    confirm = actions.add_parser(
        "confirm-sweep",
        help="do the sweep held for a PBX (delete the users its last copy did not hold)",
        description="A sweep that would delete more than PBX_USERS_SWEEP_LIMIT of a PBX's "
        "users is held; this does it.",
    )
    confirm.add_argument("--pbx", required=True, help="the PBX: its name, or pbx.domain")


def list_users(stdout: OutputWrapper, pbx: str | None, *, as_json: bool) -> None:
    replicas = list(find_replicas(pbx))
    if pbx is not None and not replicas:
        raise CommandError(_unknown(pbx), returncode=EXIT_USAGE)
    found = [_replica_dict(replica) for replica in replicas]
    if as_json:
        stdout.write(json.dumps(found, indent=2, ensure_ascii=False))
        return
    for replica in found:
        held = replica["held_sweep"]
        stdout.write(
            f"PBX {replica['pbx']}.{replica['domain']} (App {replica['app'] or '?'}): "
            f"{'running' if replica['running'] else 'not running'}, "
            f"copy {'done' if replica['copy_done'] else 'not done'}, "
            f"generation {replica['generation']}, {replica['row_count']} user(s), "
            f"{replica['skipped_rows']} skipped"
            + (f", sweep held: {held['users']} to delete" if held else "")
        )
        for user in replica["users"]:
            stdout.write(
                f"  {user['h323']:<20} {user['e164']:<10} {user['cn']:<30} "
                f"{', '.join(user['emails'])}"
            )
    stdout.write(f"{sum(len(r['users']) for r in found)} PBX user(s).")


def confirm(stdout: OutputWrapper, pbx: str) -> None:
    replicas = list(find_replicas(pbx))
    if not replicas:
        raise CommandError(_unknown(pbx), returncode=EXIT_USAGE)
    if len(replicas) > 1:
        names = ", ".join(f"{r.pbx}.{r.domain}" for r in replicas)
        raise CommandError(
            f"More than one PBX is called {pbx!r}: {names}. Name one as pbx.domain.",
            returncode=EXIT_USAGE,
        )
    replica = replicas[0]
    try:
        outcome = confirm_sweep(ReplicaKey(replica.domain, replica.pbx))
    except NoHeldSweep as error:
        raise CommandError(
            f"{error} Nothing to confirm: `appws_pbx users --pbx {pbx}` shows its state.",
            returncode=EXIT_USAGE,
        ) from None
    stdout.write(f"Deleted {outcome.deleted} PBX user(s) of {replica}.")


def _unknown(pbx: str) -> str:
    return (
        f"No users of a PBX {pbx!r} are replicated. `appws_pbx users` lists the PBXs "
        "that are (name them as listed: pbx or pbx.domain)."
    )


def _replica_dict(replica: PbxReplica) -> dict[str, Any]:
    # Explicit orders throughout: without them PostgreSQL returns rows as they lie on disk,
    # which an update changes. Emails and groups in the PBX's order (as stored).
    users = (
        PbxUser.objects.filter(replica=replica)
        .select_related("user")
        .order_by("h323", "guid")
        .prefetch_related(
            Prefetch("emails", queryset=PbxUserEmail.objects.order_by("pk")),
            Prefetch("groups", queryset=PbxUserGroup.objects.order_by("pk")),
        )
    )
    return {
        "pbx": replica.pbx,
        "domain": replica.domain,
        "app": replica.app_name,
        "running": replica.running,
        "copy_done": replica.copy_done,
        "generation": replica.generation,
        "completed_generation": replica.completed_generation,
        "last_change": replica.last_change.isoformat() if replica.last_change else None,
        "row_count": replica.row_count,
        "skipped_rows": replica.skipped_rows,
        "held_sweep": None
        if replica.held_generation is None
        else {
            "users": replica.held_sweep,
            "generation": replica.held_generation,
            "since": replica.held_at.isoformat() if replica.held_at else None,
        },
        "users": [_user_dict(user) for user in users],
    }


def _user_dict(user: PbxUser) -> dict[str, Any]:
    return {
        "guid": user.guid,
        "h323": user.h323,
        "cn": user.cn,
        "dn": user.dn,
        "e164": user.e164,
        "node": user.node,
        "loc": user.loc,
        "hide": user.hide,
        "apps": user.apps,
        "emails": [email.email for email in user.emails.all()],
        "groups": [
            {"name": group.name, "mode": group.mode, "dyn": group.dyn}
            for group in user.groups.all()
        ],
        "user": user.user.get_username() if user.user is not None else None,
    }

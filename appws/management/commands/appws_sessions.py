"""List live sessions, disconnect them, or sweep the rows of dead processes."""

from __future__ import annotations

import json
from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db.models import QuerySet

from appws import live_sessions
from appws.management.channel_layer import require_shared_layer
from appws.models import LiveSession


class Command(BaseCommand):
    help = "List live sessions (default), disconnect them, or remove stale rows."

    def add_arguments(self, parser: ArgumentParser) -> None:
        actions = parser.add_mutually_exclusive_group()
        actions.add_argument(
            "--disconnect",
            action="store_true",
            help="close the selected sessions (needs a channel layer shared with the server)",
        )
        actions.add_argument(
            "--sweep",
            action="store_true",
            help="delete rows of server processes that stopped; their channels leave their groups",
        )
        parser.add_argument("--app", help="only sessions of this App")
        parser.add_argument("--sip", help="only sessions of this sip user")
        parser.add_argument("--all", action="store_true", help="with --disconnect: every session")
        parser.add_argument("--json", action="store_true", help="list as JSON")

    def handle(self, *args: Any, **options: Any) -> None:
        # Newest first as in the admin; the pk decides between sessions of the same instant.
        sessions: QuerySet[LiveSession] = LiveSession.objects.select_related("server").order_by(
            "-connected_at", "-pk"
        )
        if options["app"]:
            sessions = sessions.filter(app_name=options["app"])
        if options["sip"]:
            sessions = sessions.filter(sip=options["sip"])
        if options["sweep"]:
            processes, rows = live_sessions.sweep_stale_processes()
            self.stdout.write(
                f"Removed {processes} stopped server process(es) and {rows} session row(s)."
            )
        elif options["disconnect"]:
            if not (options["app"] or options["sip"] or options["all"]):
                raise CommandError("Say which sessions: --app, --sip, or --all.")
            require_shared_layer("appws_sessions --disconnect", "use the admin's Disconnect action")
            count = live_sessions.disconnect_sessions(sessions)
            self.stdout.write(f"Disconnected {count} session(s).")
        else:
            self._list(sessions, as_json=options["json"])

    def _list(self, sessions: QuerySet[LiveSession], *, as_json: bool) -> None:
        cutoff = live_sessions.stale_cutoff()
        rows = [
            {
                "app": row.app_name,
                "user": row.user_label,
                "dn": row.dn,
                "remote": row.remote_address,
                "server": str(row.server),
                "connected": row.connected_at.isoformat(),
                "last_activity": row.last_activity.isoformat(),
                "stale": row.server.last_seen < cutoff,
            }
            for row in sessions
        ]
        if as_json:
            self.stdout.write(json.dumps(rows, indent=2))
            return
        for row in rows:
            stale = "  (stale)" if row["stale"] else ""
            self.stdout.write(
                f"{row['app']:<20} {row['user']:<30} {row['remote']:<16} {row['server']}{stale}"
            )
        self.stdout.write(f"{len(rows)} live session(s).")

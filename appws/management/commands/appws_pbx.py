"""List the connected PBXs, or call an API of one and print its reply; list the
replicated PBX users (``users``) and confirm a held sweep (``confirm-sweep``).

Exit codes, as the ``appws`` command's: 0 success, 2 bad usage (also: more than one
PBX could take the call, no such PBX replicated, no sweep held), 4 the PBX answered
with an error (or does not enable the API), 5 no PBX reached (none connected,
unreachable, busy, timeout, layer down).
"""

from __future__ import annotations

import json
from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from appws.cli import EXIT_CONNECTION, EXIT_REMOTE_ERROR, EXIT_USAGE
from appws.exceptions import ApiNotEnabled, LayerUnavailable, PeerError, PeerRequestError
from appws.management import pbx_users
from appws.pbx import AmbiguousPbx, connected_pbxs, request
from appws.pbx.connected import ConnectedPbx


class Command(BaseCommand):
    help = (
        "List the connected PBXs (default), or `call APP JSON` to send a request to the "
        "PBX connected to App APP and print its reply. Exit codes: 0 ok, 2 bad usage or "
        "ambiguous PBX, 4 the PBX's error, 5 no PBX reached. `users [--pbx NAME] [--json]` "
        "lists the replicated PBX users; `confirm-sweep --pbx NAME` does a held sweep."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--json", action="store_true", help="list as JSON")
        parser.add_argument("--app", help="only PBXs connected to this App")
        actions = parser.add_subparsers(dest="action")
        call = actions.add_parser(
            "call",
            help="send a request to a PBX and print its reply as JSON",
            description="Send a request to the PBX connected to App APP; print its reply.",
        )
        call.add_argument("app", metavar="APP", help="the App the PBX is connected to")
        call.add_argument(
            "message",
            metavar="JSON",
            help='the request, e.g. \'{"api":"PbxApi","mt":"GetNodeInfo"}\'',
        )
        call.add_argument(
            "--pbx", help="which PBX, when several are connected: its name or identity as listed"
        )
        call.add_argument("--timeout", type=float, help="seconds to wait for the reply")
        pbx_users.add_parsers(actions)

    def handle(self, *args: Any, **options: Any) -> None:
        action = options.get("action")
        if action == "call":
            self._call(options)
        elif action == "users":
            pbx_users.list_users(self.stdout, options.get("pbx"), as_json=options["json"])
        elif action == "confirm-sweep":
            pbx_users.confirm(self.stdout, options["pbx"])
        else:
            self._list(connected_pbxs(options["app"]), as_json=options["json"])

    def _list(self, found: list[ConnectedPbx], *, as_json: bool) -> None:
        if as_json:
            self.stdout.write(json.dumps([row.as_dict() for row in found], indent=2))
            return
        for row in found:
            apis = ", ".join(sorted(row.apis)) or "no APIs"
            self.stdout.write(f"{row.app:<20} {row.identity!s:<40} {row.process:<24} APIs: {apis}")
        self.stdout.write(f"{len(found)} PBX connection(s).")

    def _call(self, options: dict[str, Any]) -> None:
        try:
            message = json.loads(options["message"])
        except ValueError as error:
            raise CommandError(f"JSON is not valid JSON: {error}", returncode=EXIT_USAGE) from None
        if not isinstance(message, dict) or not isinstance(message.get("api"), str):
            raise CommandError(
                'JSON must be an object naming the PBX API in "api" and the request in "mt", '
                'e.g. {"api":"PbxApi","mt":"GetNodeInfo"}.',
                returncode=EXIT_USAGE,
            )
        try:
            reply = request(
                options["app"],
                message,
                api=message["api"],
                pbx=options["pbx"],
                timeout=options["timeout"],
            )
        except ValueError as error:
            raise CommandError(str(error), returncode=EXIT_USAGE) from None
        except AmbiguousPbx as error:
            raise CommandError(f"{error} (here: --pbx)", returncode=EXIT_USAGE) from None
        except PeerError as error:
            self.stdout.write(json.dumps(error.reply, ensure_ascii=False))
            raise CommandError(f"The PBX answered: {error}", returncode=EXIT_REMOTE_ERROR) from None
        except ApiNotEnabled as error:
            raise CommandError(str(error), returncode=EXIT_REMOTE_ERROR) from None
        except (PeerRequestError, LayerUnavailable) as error:
            raise CommandError(str(error), returncode=EXIT_CONNECTION) from None
        self.stdout.write(json.dumps(reply, ensure_ascii=False))

"""``manage.py appws_fakepbx URL``: a FakePbx against a running site, until interrupted."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from websockets.exceptions import InvalidHandshake, InvalidURI

from appws.testing.fakepbx import ALL_APIS, FakePbx, Frame, LoginRefused, new_user

#: Reconnecting after a lost connection, as the vendor's clients do: 1 s doubling to 32 s.
FIRST_DELAY, LAST_DELAY = 1.0, 32.0
#: How often --watch looks at the users file (a person editing it by hand).
WATCH_SECONDS = 1.0
#: Columns a row gets anew each time the file is read: never compared.
_FRESH = ("guid", "pwd")


def load_users(path: str) -> list[dict[str, Any]]:
    """Rows from a JSON list of objects; each needs ``h323``, the rest is filled in."""
    try:
        rows = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise CommandError(f"--users {path!r}: {error}") from error
    if not isinstance(rows, list) or not all(
        isinstance(row, dict) and isinstance(row.get("h323"), str) for row in rows
    ):
        raise CommandError(f"--users {path!r} must hold a JSON list of objects with 'h323'")
    return [new_user(row["h323"], **{k: v for k, v in row.items() if k != "h323"}) for row in rows]


class Command(BaseCommand):
    help = (
        "Connect to an App Service as a PBX's App object would (appws.testing.FakePbx): "
        "log in, send PbxInfo and serve the PBX's APIs from memory until interrupted."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("url", help="The service's WebSocket URL, e.g. ws://host/apps/notes")
        parser.add_argument("--app", help="The App name (default: the URL's last component).")
        parser.add_argument(
            "--password-env",
            required=True,
            metavar="VAR",
            help="The environment variable holding the App's password.",
        )
        parser.add_argument("--sip", help="The App object's name (default: the App name).")
        parser.add_argument("--domain", default="example.com", help="The PBX's domain.")
        parser.add_argument("--pbx", default="pbx-main", help="The PBX's name.")
        parser.add_argument(
            "--apis",
            default=",".join(ALL_APIS),
            help=f"Comma-separated APIs to enable (default: {','.join(ALL_APIS)}).",
        )
        parser.add_argument("--users", metavar="FILE.json", help="Users for PbxTableUsers.")
        parser.add_argument(
            "--watch",
            action="store_true",
            help="Read --users again when the file changes and send the changes live "
            "(ReplicateAdd, ReplicateUpdate, ReplicateDel), users matched by h323.",
        )
        parser.add_argument(
            "--badges",
            metavar="USER,USER",
            default="",
            help="Users whose badge of the App to subscribe to (PbxSignal) once connected.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        variable = options["password_env"]
        password = os.environ.get(variable)
        if not password:
            raise CommandError(f"Set the environment variable {variable!r} to the App's password.")
        apis = [name for name in options["apis"].split(",") if name]
        unknown = sorted(set(apis) - set(ALL_APIS))
        if unknown:
            raise CommandError(f"--apis: unknown {unknown!r}; choose from {','.join(ALL_APIS)}")
        pbx = FakePbx(
            options["url"],
            password=password,
            app=options["app"],
            sip=options["sip"],
            domain=options["domain"],
            pbx=options["pbx"],
            apis=apis,
            users=load_users(options["users"]) if options["users"] else (),
            listener=self._frame,
        )
        self._badge_users = [name for name in options["badges"].split(",") if name]
        if options["watch"] and not options["users"]:
            raise CommandError("--watch needs --users FILE.json: the file to watch")
        self._watched = options["users"] if options["watch"] else None
        try:
            asyncio.run(self._serve(pbx))
        except KeyboardInterrupt:
            self.stdout.write("Interrupted: stopped.")

    def _frame(self, frame: Frame) -> None:
        # api, mt and src only: rows carry passwords, and a login carries its digest.
        arrow = "->" if frame.direction == "sent" else "<-"
        if frame.message is None:
            self.stdout.write(f"{arrow} unreadable frame of {len(frame.text)} characters")
            return
        src = frame.message.get("src")
        where = f" src={src!r}" if src is not None else ""
        api = f"{frame.api!r} " if frame.api is not None else ""
        self.stdout.write(f"{arrow} {api}{frame.mt!r}{where}{_call(frame.message)}")

    async def _subscribe_badges(self, pbx: FakePbx) -> None:
        if not self._badge_users:
            return
        try:
            # This connection's Register: a PBX places calls only to a registered service.
            await pbx.wait_for(
                lambda frame: frame.connection == pbx.wire.connection,
                api="PbxSignal",
                mt="Register",
            )
        except TimeoutError:
            self.stdout.write("The service did not register on PbxSignal: no badge calls placed")
            return
        for user in self._badge_users:
            call = await pbx.subscribe_presence(user)
            self.stdout.write(f"Subscribed to the badge of {user!r} (call {call.call})")

    async def _watch(self, pbx: FakePbx, path: str) -> None:
        """Apply each change of the users file to the PBX's users, as an administrator would."""
        stamp = _stamp(path)
        while True:
            await asyncio.sleep(WATCH_SECONDS)
            if _stamp(path) == stamp:
                continue
            stamp = _stamp(path)
            try:
                rows = {row["h323"]: row for row in load_users(path)}
            except CommandError as error:
                self.stdout.write(f"Users file not applied: {error}")
                continue
            have = {row["h323"]: row for row in pbx.users.rows.values()}
            for name in sorted(have.keys() - rows.keys()):
                await pbx.delete_user(have[name]["guid"])
                self.stdout.write(f"User {name!r} deleted")
            for name, row in rows.items():
                columns = {k: v for k, v in row.items() if k not in ("h323", *_FRESH)}
                if name not in have:
                    await pbx.add_user(name, **columns)
                    self.stdout.write(f"User {name!r} added")
                elif any(have[name].get(k) != v for k, v in columns.items()):
                    await pbx.update_user(have[name]["guid"], **columns)
                    self.stdout.write(f"User {name!r} updated")

    async def _serve(self, pbx: FakePbx) -> None:
        if self._watched is not None:
            # For the whole run: changes while disconnected come with the next initial copy.
            watcher = asyncio.create_task(self._watch(pbx, self._watched))
        try:
            await self._connect(pbx)
        finally:
            if self._watched is not None:
                watcher.cancel()

    async def _connect(self, pbx: FakePbx) -> None:
        me = pbx.identity
        delay = FIRST_DELAY
        while True:
            self.stdout.write(f"Connecting to {me.url!r} as App {me.app!r}, object {me.sip!r}")
            try:
                await pbx.open()
            except LoginRefused as refused:
                raise CommandError(str(refused)) from refused
            except InvalidURI as error:
                raise CommandError(
                    f"{me.url!r} is no WebSocket URL: use ws:// or wss://"
                ) from error
            except (OSError, asyncio.TimeoutError, InvalidHandshake) as error:
                self.stdout.write(f"Cannot connect: {error}; again in {delay:g} s")
            else:
                delay = FIRST_DELAY
                self.stdout.write(f"Logged in; PbxInfo sent with APIs {list(me.apis)!r}")
                await self._subscribe_badges(pbx)
                await pbx.run()
                self.stdout.write(
                    f"Connection closed by the {pbx.closed_by} (code {pbx.close_code}, "
                    f"{pbx.close_reason!r}); again in {delay:g} s"
                )
            await asyncio.sleep(delay)
            delay = min(delay * 2, LAST_DELAY)


def _stamp(path: str) -> tuple[int, int] | None:
    try:
        found = os.stat(path)
    except OSError:
        return None
    return found.st_mtime_ns, found.st_size


def _call(message: dict[str, Any]) -> str:
    """A call's id, its signal and a badge's note, for ``Signaling`` lines (else "")."""
    if message.get("mt") != "Signaling" or "call" not in message:
        return ""
    found = message.get("sig")
    sig: dict[str, Any] = found if isinstance(found, dict) else {}
    notes = [f.get("note") for f in sig.get("fty") or () if isinstance(f, dict) and f.get("note")]
    text = f" call={message['call']!r} {sig.get('type')!r}"
    return text + "".join(f" {note!r}" for note in notes)

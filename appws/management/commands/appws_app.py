"""``manage.py appws_app``: manage Apps, their passwords and permissions from a shell.

Passwords are read from an environment variable (``--password-env VAR``) or
from standard input (``--password-stdin``), never from the command line, where
other users could see them in the process list, and are never printed.

Long because it is one command (Django finds a command by its module) with a
subcommand for each thing an App has, sharing the lookups and the password input.
"""

from __future__ import annotations

import getpass
import json
import os
import sys
from typing import Any

from django.contrib.auth.models import Permission
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from appws.accounts import is_settings_app
from appws.crypto import UndecryptablePassword, reencrypt_password
from appws.management.channel_layer import warn_if_server_not_told
from appws.models import App, app_name_list


def _password_options(parser: CommandParser) -> None:
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--password-env",
        metavar="VAR",
        help="Read the password from environment variable VAR.",
    )
    source.add_argument(
        "--password-stdin",
        action="store_true",
        help="Read the password from standard input (one trailing newline is dropped; "
        "asks without echo on a terminal).",
    )


def _is_interactive() -> bool:
    isatty = getattr(sys.stdin, "isatty", None)
    return bool(isatty and isatty())


class Command(BaseCommand):
    help = "Manage the Apps App Services accept logins for (see 'appws_app <action> --help')."

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

        add = actions.add_parser("add", help="Add an App with its password.")
        add.add_argument("name", help="The App name (its HTML file name without .htm).")
        add.add_argument("--title", default="", help="A title shown to people.")
        add.add_argument("--domain", default="", help="The domain sent in AppLoginResult.")
        add.add_argument("--disabled", action="store_true", help="Add it disabled.")
        add.add_argument("--hidden", action="store_true", help="Send info.hidden = true.")
        _password_options(add)

        listing = actions.add_parser("list", help="List the Apps (never their passwords).")
        listing.add_argument("--json", action="store_true", help="Print JSON.")

        set_password = actions.add_parser("set-password", help="Replace an App's password.")
        set_password.add_argument("name")
        _password_options(set_password)

        remove = actions.add_parser("remove", help="Delete an App and its access permission.")
        remove.add_argument("name")
        remove.add_argument("--yes", action="store_true", help="Do not ask for confirmation.")

        for verb, text in (
            ("grant", "Let sessions of an App use handlers needing these permissions."),
            ("revoke", "Take these permissions from an App's sessions."),
        ):
            sub = actions.add_parser(verb, help=text)
            sub.add_argument("name")
            sub.add_argument("perms", nargs="+", metavar="PERM", help="app_label.codename")

        checks = actions.add_parser(
            "check-logins",
            help="Name the Apps whose passwords an App's sessions may verify with "
            "AppCheckLogin (none: they may verify none).",
        )
        checks.add_argument("name")
        checks.add_argument("apps", nargs="*", metavar="APP", help="App names")

        actions.add_parser("enable", help="Accept logins for an App.").add_argument("name")
        actions.add_parser(
            "disable", help="Refuse logins for an App; its live sessions are closed."
        ).add_argument("name")

        actions.add_parser(
            "rotate",
            help="Re-encrypt every App password under the current SECRET_KEY "
            "(after moving the old key to SECRET_KEY_FALLBACKS).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        action = options["action"]
        handler = {
            "add": self._add,
            "list": self._list,
            "set-password": self._set_password,
            "remove": self._remove,
            "grant": self._grant,
            "revoke": self._revoke,
            "check-logins": self._check_logins,
            "enable": self._enable,
            "disable": self._disable,
            "rotate": self._rotate,
        }[action]
        handler(options)
        if action not in ("add", "list", "rotate"):  # these change no App a session holds
            warn_if_server_not_told(self.stderr, f"The change to App {options.get('name')!r}")

    # -- helpers ------------------------------------------------------------

    def _password(self, options: dict[str, Any]) -> str:
        variable = options.get("password_env")
        if variable:
            if variable not in os.environ:
                raise CommandError(
                    f"Environment variable {variable} is not set: export it with the "
                    "password, or use --password-stdin."
                )
            password = os.environ[variable]
        elif _is_interactive():
            password = getpass.getpass("Password: ")
        else:
            password = sys.stdin.read()
            if password.endswith("\r\n"):
                password = password[:-2]
            elif password.endswith("\n"):
                password = password[:-1]
        if not password:
            raise CommandError("The password is empty: give the App a non-empty password.")
        return password

    def _app(self, name: str) -> App:
        try:
            return App.objects.get(name=name)
        except App.DoesNotExist:
            raise CommandError(
                f"There is no App named {name!r}: 'manage.py appws_app list' shows the Apps."
            ) from None

    def _warn_if_in_settings(self, name: str) -> None:
        if is_settings_app(name):
            self.stderr.write(
                self.style.WARNING(
                    f"App {name!r} is also defined in the APPWS['APPS'] setting, which takes "
                    "precedence: logins use the settings, not this row."
                )
            )

    def _permissions(self, names: list[str]) -> list[Permission]:
        found = []
        for name in names:
            label, dot, codename = name.partition(".")
            if not dot or not label or not codename:
                raise CommandError(
                    f"{name!r} is not a permission name: write it as 'app_label.codename', "
                    "e.g. 'auth.delete_user'."
                )
            permission = Permission.objects.filter(
                content_type__app_label=label, codename=codename
            ).first()
            if permission is None:
                raise CommandError(
                    f"There is no permission {name!r}: check the app label and codename "
                    "(run migrate first if the model is new)."
                )
            found.append(permission)
        return found

    # -- actions ------------------------------------------------------------

    def _add(self, options: dict[str, Any]) -> None:
        name = options["name"]
        if App.objects.filter(name=name).exists():
            raise CommandError(
                f"An App named {name!r} exists already: use set-password to change its "
                "password, or remove it first."
            )
        app = App(
            name=name,
            title=options["title"],
            domain=options["domain"],
            enabled=not options["disabled"],
            hidden=options["hidden"],
        )
        app.set_password(self._password(options))
        try:
            app.full_clean(exclude=["access_permission"])
        except ValidationError as error:
            problems = "; ".join(
                f"{field}: {' '.join(texts)}" for field, texts in error.message_dict.items()
            )
            raise CommandError(f"The App cannot be added: {problems}") from error
        app.save()
        self._warn_if_in_settings(name)
        self.stdout.write(
            f"Added App {name!r}. Grant '{app.access_permission_name}' to the users or "
            "groups who may open it."
        )

    def _list(self, options: dict[str, Any]) -> None:
        from appws.live_sessions import live_session_count

        # Explicit: Django drops Meta.ordering from a query with GROUP BY (the count), and
        # PostgreSQL then returns the groups in any order.
        apps = (
            App.objects.annotate(live_sessions=live_session_count())
            .order_by("name")
            .prefetch_related("permissions__content_type")
        )
        rows: list[dict[str, Any]] = [
            {
                "name": app.name,
                "title": app.title,
                "enabled": app.enabled,
                "hidden": app.hidden,
                "domain": app.domain,
                "permissions": sorted(
                    f"{perm.content_type.app_label}.{perm.codename}"
                    for perm in app.permissions.all()
                ),
                "access_permission": app.access_permission_name,
                "live_sessions": app.live_sessions,
            }
            for app in apps
        ]
        if options["json"]:
            self.stdout.write(json.dumps(rows, indent=2))
            return
        if not rows:
            self.stdout.write("No Apps. Add one with 'manage.py appws_app add NAME'.")
            return
        headers = ("NAME", "TITLE", "ENABLED", "LIVE", "PERMISSIONS")
        table = [
            (
                row["name"],
                row["title"],
                "yes" if row["enabled"] else "no",
                str(row["live_sessions"]),
                ", ".join(row["permissions"]) or "-",
            )
            for row in rows
        ]
        widths = [max(len(line[col]) for line in [headers, *table]) for col in range(4)]
        for line in [headers, *table]:
            cells = [cell.ljust(width) for cell, width in zip(line[:4], widths, strict=True)]
            self.stdout.write("  ".join([*cells, line[4]]).rstrip())

    def _set_password(self, options: dict[str, Any]) -> None:
        app = self._app(options["name"])
        app.set_password(self._password(options))
        app.save()
        self._warn_if_in_settings(app.name)
        self.stdout.write(f"Password of App {app.name!r} replaced.")

    def _remove(self, options: dict[str, Any]) -> None:
        app = self._app(options["name"])
        if not options["yes"]:
            if not _is_interactive():
                raise CommandError(
                    f"Removing App {app.name!r} deletes it and its access permission: "
                    "pass --yes to confirm."
                )
            answer = input(
                f"Remove App {app.name!r} and its access permission '"
                f"{app.access_permission_name}'? Type 'yes' to confirm: "
            )
            if answer.strip().lower() != "yes":
                raise CommandError("Not removed.")
        name = app.name
        app.delete()
        self.stdout.write(f"Removed App {name!r}.")

    def _grant(self, options: dict[str, Any]) -> None:
        app = self._app(options["name"])
        permissions = self._permissions(options["perms"])
        app.permissions.add(*permissions)
        self.stdout.write(f"App {app.name!r} now carries: {self._carried(app)}.")

    def _revoke(self, options: dict[str, Any]) -> None:
        app = self._app(options["name"])
        permissions = self._permissions(options["perms"])
        app.permissions.remove(*permissions)
        self.stdout.write(f"App {app.name!r} now carries: {self._carried(app)}.")

    def _carried(self, app: App) -> str:
        return ", ".join(sorted(app.operation_permissions())) or "no permissions"

    def _check_logins(self, options: dict[str, Any]) -> None:
        app = self._app(options["name"])
        try:
            names = app_name_list(options["apps"])
        except ValidationError as error:
            raise CommandError(error.messages[0]) from None
        app.check_logins = names
        app.save()
        self._warn_if_in_settings(app.name)
        if names:
            shown = ", ".join(repr(name) for name in app.check_logins)
            self.stdout.write(f"Sessions of App {app.name!r} may check the passwords of {shown}.")
        else:
            self.stdout.write(f"Sessions of App {app.name!r} may check no App's password.")

    def _enable(self, options: dict[str, Any]) -> None:
        self._switch(options["name"], True)

    def _disable(self, options: dict[str, Any]) -> None:
        self._switch(options["name"], False)

    def _switch(self, name: str, enabled: bool) -> None:
        app = self._app(name)
        if app.enabled == enabled:
            self.stdout.write(f"App {name!r} is {'enabled' if enabled else 'disabled'} already.")
            return
        app.enabled = enabled
        app.save()
        self.stdout.write(f"App {name!r} {'enabled' if enabled else 'disabled'}.")

    def _rotate(self, options: dict[str, Any]) -> None:
        done, failed = 0, []
        for app in App.objects.all():
            try:
                token = reencrypt_password(app.password_encrypted)
            except UndecryptablePassword:
                failed.append(app.name)
                continue
            app.password_encrypted = token
            # save(), not update(): the signals clear caches holding the old token.
            app.save(update_fields=["password_encrypted"])
            done += 1
        self.stdout.write(
            f"Re-encrypted {done} App password{'' if done == 1 else 's'} under the "
            "current SECRET_KEY."
        )
        if failed:
            raise CommandError(
                f"{len(failed)} App password(s) cannot be decrypted with SECRET_KEY or "
                f"SECRET_KEY_FALLBACKS: {', '.join(failed)}. Put the old key back in "
                "SECRET_KEY_FALLBACKS and run rotate again, or give each of them a new "
                "password with set-password."
            )
        if done:
            self.stdout.write(
                "Once every server runs with the new SECRET_KEY, the old key can leave "
                "SECRET_KEY_FALLBACKS."
            )

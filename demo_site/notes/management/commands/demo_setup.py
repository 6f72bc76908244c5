"""Provision the demo: the notes Apps, their permissions, and demo users."""

from __future__ import annotations

import secrets
from typing import Any

from django.contrib.auth.models import Group, Permission, User
from django.core.management.base import BaseCommand

from appws.models import App

# Demo credentials for a site on 127.0.0.1: printed, and documented in the README.
USERS = {
    "alice": ("alice-demo", "Alice Example", ["notes"]),
    "bob": ("bob-demo", "Bob Example", ["notes", "notes-admin"]),
}
ADMIN = ("admin", "admin-demo")


class Command(BaseCommand):
    help = "Create the demo's Apps (notes, notes-admin), groups and users; print the logins."

    def handle(self, *args: Any, **options: Any) -> None:
        apps = {
            "notes": self._app("notes", "Notes"),
            "notes-admin": self._app("notes-admin", "Notes (admin)"),
        }
        apps["notes-admin"].permissions.add(
            Permission.objects.get(content_type__app_label="notes", codename="delete_note")
        )
        for name, (password, full_name, app_names) in USERS.items():
            user, _ = User.objects.get_or_create(username=name)
            user.first_name, user.last_name = full_name.split(" ", 1)
            user.set_password(password)
            user.save()
            for app_name in app_names:
                group, _ = Group.objects.get_or_create(name=f"{app_name} users")
                assert apps[app_name].access_permission is not None
                group.permissions.add(apps[app_name].access_permission)
                user.groups.add(group)
        admin, _ = User.objects.get_or_create(username=ADMIN[0])
        admin.is_staff = admin.is_superuser = True
        admin.set_password(ADMIN[1])
        admin.save()

        self.stdout.write(self.style.SUCCESS("Demo ready. Log in at http://127.0.0.1:8000/ as:"))
        for name, (password, _full_name, app_names) in USERS.items():
            self.stdout.write(f"  {name} / {password}   (Apps: {', '.join(app_names)})")
        self.stdout.write(f"  {ADMIN[0]} / {ADMIN[1]}   (superuser: /admin/)")

    def _app(self, name: str, title: str) -> App:
        app = App.objects.filter(name=name).first()
        if app is None:
            app = App(name=name, title=title)
            # Browsers log in through the site's login issuer: nobody types this password.
            app.set_password(secrets.token_urlsafe(24))
            app.save()
        return app

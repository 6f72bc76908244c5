"""Each App's access permission: created, renamed and removed with the App."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import Permission
from django.contrib.contenttypes.models import ContentType

from appws.models import App


def sync_access_permission(app: App) -> Permission:
    """Create or rename the permission that lets users open ``app``; return it."""
    label = f"Can open App {app.name}"
    permission = app.access_permission
    if permission is None:
        content_type = ContentType.objects.get_for_model(App)
        permission, _created = Permission.objects.get_or_create(
            content_type=content_type, codename=app.access_codename, defaults={"name": label}
        )
        App.objects.filter(pk=app.pk).update(access_permission=permission)
        app.access_permission = permission
    elif permission.codename != app.access_codename or permission.name != label:
        # Renaming keeps the row, so grants to users and groups survive a rename.
        permission.codename = app.access_codename
        permission.name = label
        permission.save(update_fields=["codename", "name"])
    return permission


def app_saved(sender: Any, instance: App, raw: bool = False, **kwargs: Any) -> None:
    if not raw:
        sync_access_permission(instance)


def app_deleted(sender: Any, instance: App, **kwargs: Any) -> None:
    if instance.access_permission_id is not None:
        Permission.objects.filter(pk=instance.access_permission_id).delete()

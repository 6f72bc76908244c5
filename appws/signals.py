"""Keep caches, access permissions and live sessions in step with App changes."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from appws.accounts import forget_app
from appws.models import App
from appws.permissions import app_deleted, app_saved


def _changed(name: str) -> None:
    forget_app(name)

    def tell_sessions() -> None:
        from appws.live_sessions import notify_app_changed

        notify_app_changed(name)

    # After commit: the sessions re-read the App and must see the new row.
    transaction.on_commit(tell_sessions)


def on_app_saved(sender: Any, instance: App, raw: bool = False, **kwargs: Any) -> None:
    app_saved(sender, instance, raw=raw)
    _changed(instance.name)
    previous = getattr(instance, "_appws_loaded_name", None)
    if previous and previous != instance.name:
        _changed(previous)
    instance._appws_loaded_name = instance.name  # type: ignore[attr-defined]


def on_app_deleted(sender: Any, instance: App, **kwargs: Any) -> None:
    app_deleted(sender, instance)
    _changed(instance.name)


def on_app_loaded(sender: Any, instance: App, **kwargs: Any) -> None:
    # Remember the name as loaded, so a rename also reaches the old name's sessions.
    instance._appws_loaded_name = instance.name  # type: ignore[attr-defined]


def on_permissions_changed(
    sender: Any, instance: Any, action: str, reverse: bool, pk_set: Any, **kwargs: Any
) -> None:
    if not action.startswith("post_"):
        return
    if reverse:  # permission.app_set changed: every App involved
        names = App.objects.filter(pk__in=pk_set or ()).values_list("name", flat=True)
        for name in names:
            _changed(name)
    else:
        _changed(instance.name)

"""Where Apps and their passwords come from: settings first, then the database."""

from __future__ import annotations

from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Any

from django.apps import apps as django_apps
from django.core.cache import cache

from appws.conf import appws_settings, settings_app
from appws.layer.outage import is_layer_outage


@dataclass(frozen=True)
class AppAccount:
    """An App a service can log in: its name, shared secret and what it may do.

    ``domain`` is the service instance's domain, sent back in ``AppLoginResult``;
    ``permissions`` are the Django permissions (``"app_label.codename"``) that
    sessions of this App carry; ``check_logins`` names the Apps whose passwords
    its sessions may verify with ``AppCheckLogin``; a disabled App refuses logins.
    """

    name: str
    password: str = field(repr=False)
    domain: str | None = None
    permissions: frozenset[str] = frozenset()
    enabled: bool = True
    check_logins: frozenset[str] = frozenset()


_CACHE_PREFIX = "appws:app:"


def cache_key(name: str) -> str:
    return f"{_CACHE_PREFIX}{name.encode('utf-8', 'surrogatepass').hex()}"


def _account_from_settings(name: str) -> AppAccount | None:
    entry = settings_app(name)
    if entry is None:
        return None
    return AppAccount(
        name=name,
        password=entry["password"],
        domain=entry.get("domain"),
        permissions=frozenset(entry.get("permissions", ())),
        check_logins=app_names(entry.get("check_logins")),
    )


def app_names(value: object) -> frozenset[str]:
    """The App names of a ``check_logins`` list; anything else names none."""
    if not isinstance(value, (list, tuple)):
        return frozenset()
    return frozenset(name for name in value if isinstance(name, str))


_Row = tuple[str, str, bool, str, frozenset[str], frozenset[str]]
_ROW_LENGTH = 6


def _database_row(name: str) -> _Row | None:
    from appws.models import App

    app = App.objects.filter(name=name).first()
    if app is None:
        return None
    # The cache may be shared (Redis, memcached): it holds the token, never the clear password.
    return (
        app.name,
        app.password_encrypted,
        app.enabled,
        app.domain,
        app.operation_permissions(),
        app_names(app.check_logins),
    )


async def _cached(operation: Awaitable[Any]) -> Any:
    """A cache operation that fails open: an unreachable cache only costs a database read.

    The cache is a copy of the App table, so doing without it is always right.
    """
    try:
        return await operation
    except Exception as error:
        if not is_layer_outage(error):
            raise
        return None


async def load_app(name: str) -> AppAccount | None:
    """Return App ``name`` from ``APPWS["APPS"]``, else from the App table.

    Database rows are cached in Django's cache for ``APP_CACHE_SECONDS``.
    """
    account = _account_from_settings(name)
    if account is not None or not django_apps.is_installed("appws"):
        return account
    from asgiref.sync import sync_to_async

    from appws.crypto import decrypt_password

    key = cache_key(name)
    row = await _cached(cache.aget(key))
    if not (isinstance(row, tuple) and len(row) == _ROW_LENGTH):
        # Missing, or cached by an older version of appws (a shared cache).
        row = await sync_to_async(_database_row)(name)
        if row is None:
            return None
        await _cached(cache.aset(key, row, appws_settings()["APP_CACHE_SECONDS"]))
    app_name, token, enabled, domain, permissions, check_logins = row
    return AppAccount(
        name=app_name,
        password=decrypt_password(token),
        domain=domain or None,
        permissions=permissions,
        enabled=enabled,
        check_logins=check_logins,
    )


def forget_app(name: str) -> None:
    """Drop App ``name`` from the cache (called when it changes)."""
    cache.delete(cache_key(name))

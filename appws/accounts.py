"""Where an App comes from (settings first, then the database) and its instance domain.

The one home of two rules: an App in ``APPWS["APPS"]`` overrides the database
row of the same name (for logins, the login issuer, the admin and the
commands alike), and the instance domain a login reports is the App's own
domain, else ``APPWS["DOMAIN"]``, else the host name the client used.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from django.apps import apps as django_apps
from django.core.cache import cache as thread_cache
from django.core.exceptions import ImproperlyConfigured
from django.http.request import split_domain_port

from appws.cache import call, process_cache
from appws.conf import get_settings
from appws.conf.validation import app_password_problem
from appws.layer.outage import is_layer_outage

if TYPE_CHECKING:
    from appws.models import App

logger = logging.getLogger("appws.accounts")


@dataclass(frozen=True)
class AppAccount:
    """An App a service can log in: its name, shared secret and what it may do.

    ``domain`` is the service instance's domain, sent back in ``AppLoginResult``;
    ``permissions`` are the Django permissions (``"app_label.codename"``) that
    sessions of this App carry; ``check_logins`` names the Apps whose passwords
    its sessions may verify with ``AppCheckLogin``; a disabled App refuses logins.
    ``pbx_rate_limit`` is the message rate (per second; 0: none) its PBX sessions are
    held to, None for the site's setting.
    """

    name: str
    password: str = field(repr=False)
    domain: str | None = None
    permissions: frozenset[str] = frozenset()
    enabled: bool = True
    check_logins: frozenset[str] = frozenset()
    pbx_rate_limit: float | None = None


_CACHE_PREFIX = "appws:app:"


def cache_key(name: str) -> str:
    return f"{_CACHE_PREFIX}{name.encode('utf-8', 'surrogatepass').hex()}"


# -- settings over the database ------------------------------------------------------


def settings_entry(name: str) -> Mapping[str, Any] | None:
    """The ``APPWS["APPS"]`` entry of App ``name``, or None when the settings name no such App.

    Raises ``ImproperlyConfigured`` for an entry no login can use (no string password).
    """
    entry = get_settings().apps.get(name)
    if entry is None:
        return None
    problem = app_password_problem(name, entry)
    if problem is not None:
        raise ImproperlyConfigured(problem.message)
    result: Mapping[str, Any] = entry
    return result


def is_settings_app(name: str) -> bool:
    """Whether App ``name`` comes from the settings, so that its database row goes unused."""
    return settings_entry(name) is not None


def settings_account(name: str) -> AppAccount | None:
    """App ``name`` as ``APPWS["APPS"]`` defines it, or None."""
    entry = settings_entry(name)
    if entry is None:
        return None
    return AppAccount(
        name=name,
        password=entry["password"],
        domain=entry.get("domain"),
        permissions=frozenset(entry.get("permissions", ())),
        check_logins=app_names(entry.get("check_logins")),
        pbx_rate_limit=rate_limit(entry.get("pbx_rate_limit")),
    )


def login_password(app: App) -> str:
    """The password logins of the row's App are checked with: the settings' when they name it."""
    account = settings_account(app.name)
    return account.password if account is not None else app.get_password()


def account_domain(app: App) -> str | None:
    """The row's App's own domain as logins see it (the settings' when they name it), or None."""
    account = settings_account(app.name)
    return account.domain if account is not None else app.domain or None


def instance_domain(account_domain: str | None, host: str) -> str:
    """The domain a login reports: the App's own, else ``APPWS["DOMAIN"]``, else the host name.

    ``host`` is the Host the client used (a port is dropped), "" when it sent none.
    """
    if account_domain:
        return account_domain
    configured = get_settings().domain
    if configured:
        return configured
    name, _port = split_domain_port(host)
    return name


def app_names(value: object) -> frozenset[str]:
    """The App names of a ``check_logins`` list; anything else names none."""
    if not isinstance(value, (list, tuple)):
        return frozenset()
    return frozenset(name for name in value if isinstance(name, str))


def rate_limit(value: object) -> float | None:
    """A ``pbx_rate_limit`` as a number of messages per second; anything else is None."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


_Row = tuple[str, str, bool, str, frozenset[str], frozenset[str], float | None]
_ROW_LENGTH = 7


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
        app.pbx_rate_limit,
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


#: The App rows being read on each event loop, by name: the logins that miss the cache
#: meanwhile wait for that read instead of each making its own (a storm of logins
#: after a restart would otherwise send the database one query per login).
_reads: weakref.WeakKeyDictionary[
    asyncio.AbstractEventLoop, dict[str, asyncio.Future[_Row | None]]
] = weakref.WeakKeyDictionary()


def _valid(row: object) -> _Row | None:
    # Anything else is missing, or was cached by an older version of appws (a shared cache).
    return row if isinstance(row, tuple) and len(row) == _ROW_LENGTH else None


async def _shared_row(name: str) -> _Row | None:
    """App ``name``'s row, from the cache, else from the database one read at a time."""
    # A LocMemCache is read without a turn of the event loop (appws.cache.call): a login
    # then holds its throttle slot for none, so a crowd from one address never waits.
    row = _valid(await _cached(call(process_cache(), "get", cache_key(name))))
    if row is not None:
        return row
    loop = asyncio.get_running_loop()
    reads = _reads.setdefault(loop, {})
    read = reads.get(name)
    if read is None:
        read = reads[name] = loop.create_task(_read_row(name))
        read.add_done_callback(lambda done: _read_done(reads, name, done))
    # Shielded: a login that gives up (its client left) does not end the others' read.
    return await asyncio.shield(read)


def _read_done(
    reads: dict[str, asyncio.Future[_Row | None]], name: str, read: asyncio.Future[_Row | None]
) -> None:
    if reads.get(name) is read:
        del reads[name]
    if not read.cancelled():
        read.exception()  # retrieved: the waiters, if any are left, raised it


async def _read_row(name: str) -> _Row | None:
    from asgiref.sync import sync_to_async

    row = await sync_to_async(_database_row)(name)
    if row is not None:
        cache = process_cache()  # not a backend, and a pool, of this connection's own
        await _cached(call(cache, "set", cache_key(name), row, get_settings().app_cache_seconds))
    return row


async def load_app(name: str) -> AppAccount | None:
    """Return App ``name`` from ``APPWS["APPS"]``, else from the App table.

    Database rows are cached in Django's cache for ``APP_CACHE_SECONDS``.
    """
    account = settings_account(name)
    if account is not None or not django_apps.is_installed("appws"):
        return account
    from appws.crypto import decrypt_password

    row = await _shared_row(name)
    if row is None:
        return None
    app_name, token, enabled, domain, permissions, check_logins, pbx_rate_limit = row
    return AppAccount(
        name=app_name,
        password=decrypt_password(token),
        domain=domain or None,
        permissions=permissions,
        enabled=enabled,
        check_logins=check_logins,
        pbx_rate_limit=pbx_rate_limit,
    )


def forget_app(name: str) -> None:
    """Drop App ``name`` from the cache (called when it changes); an unreachable cache is no error.

    The change itself is stored, and the sessions are still told: an unreachable
    cache cannot answer logins meanwhile, and a copy it kept through the outage
    expires within ``APP_CACHE_SECONDS`` of the change, as every cached copy does.
    """
    try:
        # Called in whichever thread saved the App (an admin request's, a command's): that
        # thread's Django backend, not the process's one the event loop's logins share.
        thread_cache.delete(cache_key(name))
    except Exception as error:
        if not is_layer_outage(error):
            raise
        logger.warning(
            "App %r changed while the cache is unreachable: its cached copy, if the cache "
            "kept one, may still be read for up to APP_CACHE_SECONDS",
            name,
        )


async def forget_app_now(name: str) -> None:
    """Drop App ``name`` from the cache, from async code; an unreachable cache is no error."""
    await _cached(process_cache().adelete(cache_key(name)))


async def database_app_info(name: str) -> dict[str, Any] | None:
    """The ``AppInfoResult`` payload from App ``name``'s row.

    None for an App from ``APPWS["APPS"]`` (its service's ``app_info`` answers) or
    without a row.
    """
    if is_settings_app(name) or not django_apps.is_installed("appws"):
        return None
    from appws.models import App

    row = await App.objects.filter(name=name).afirst()
    if row is None:
        return None
    return {
        "info": {"hidden": row.hidden, "apis": row.info_apis},
        "serviceInfo": {"apis": row.service_apis},
    }

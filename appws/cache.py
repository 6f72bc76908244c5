"""The one Django cache backend object a process's logins use.

Django's ``caches[alias]`` (and ``django.core.cache.cache``) keeps a backend
object per thread *and per asyncio context*: it lives in an asgiref ``Local``.
Every WebSocket connection runs in an asyncio task of its own, so each one that
touched the cache built a backend of its own; a ``RedisCache`` one brings its own
connection pool, whose socket nothing closes but the garbage collector (Django
closes no Redis pool at the end of a request). Over thousands of logins the
process's open files swung by hundreds. appws's login path (the failed-login
throttle, the App cache) goes through the object made here instead: one per alias
and process, so its calls share one pool. :func:`call` is how they call it.

Sharing is safe: these calls run on the event loop's thread (a ``LocMemCache``,
which locks) or on the one thread ``sync_to_async`` runs thread-sensitive code on,
and Django's own ``aget()`` and friends already call a backend from a thread other
than the one that made it.
"""

from __future__ import annotations

import threading
from typing import Any

from asgiref.sync import sync_to_async
from django.core.cache import DEFAULT_CACHE_ALIAS, caches
from django.core.cache.backends.base import BaseCache
from django.core.cache.backends.locmem import LocMemCache
from django.core.signals import setting_changed

_lock = threading.Lock()
_backends: dict[str, BaseCache] = {}


def process_cache(alias: str = DEFAULT_CACHE_ALIAS) -> BaseCache:
    """This process's backend object for cache ``alias``, made on first use."""
    backend = _backends.get(alias)
    if backend is None:
        with _lock:
            backend = _backends.get(alias)
            if backend is None:
                backend = _backends[alias] = caches.create_connection(alias)
    return backend


async def call(backend: BaseCache, name: str, *args: Any) -> Any:
    """``backend.<name>(*args)`` from the event loop.

    A ``LocMemCache`` is in-process and locks: called directly, not with a hop to the
    one thread-sensitive thread (which the database work of every session shares:
    thousands of logins at once would queue behind it for a dictionary look-up).
    Not Django's a-prefixed methods for the others: ``BaseCache.aincr()`` is a get and
    a set, not atomic even on Redis (Django 5.2 backends do not override it); their
    ``incr()`` is.
    """
    method = getattr(backend, name)
    if isinstance(backend, LocMemCache):
        return method(*args)
    return await sync_to_async(method)(*args)


def _settings_changed(*, setting: str, **kwargs: Any) -> None:
    # Tests that override CACHES get a backend built from the new settings.
    if setting == "CACHES":
        with _lock:
            _backends.clear()


setting_changed.connect(_settings_changed)

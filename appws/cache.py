"""The one Django cache backend object a process's logins use.

Django's ``caches[alias]`` (and ``django.core.cache.cache``) keeps a backend
object per thread *and per asyncio context*: it lives in an asgiref ``Local``.
Every WebSocket connection runs in an asyncio task of its own, so each one that
touched the cache built a backend of its own; a ``RedisCache`` one brings its own
connection pool, whose socket nothing closes but the garbage collector (Django
closes no Redis pool at the end of a request). Over thousands of logins the
process's open files swung by hundreds. appws's login path (the failed-login
throttle, the App cache) goes through the object made here instead: one per alias
and process, so its calls share one pool.

Sharing is safe: these calls run on the event loop's thread (a ``LocMemCache``,
which locks) or on the one thread ``sync_to_async`` runs thread-sensitive code on,
and Django's own ``aget()`` and friends already call a backend from a thread other
than the one that made it.
"""

from __future__ import annotations

import threading
from typing import Any

from django.core.cache import DEFAULT_CACHE_ALIAS, caches
from django.core.cache.backends.base import BaseCache
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


def _settings_changed(*, setting: str, **kwargs: Any) -> None:
    # Tests that override CACHES get a backend built from the new settings.
    if setting == "CACHES":
        with _lock:
            _backends.clear()


setting_changed.connect(_settings_changed)

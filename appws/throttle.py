"""Throttle failed logins per remote address, in Django's cache (shared across processes)."""

from __future__ import annotations

import time
from typing import Any

from django.core.cache import cache, caches
from django.core.cache.backends.locmem import LocMemCache

from .conf import appws_settings


def _keys(address: str) -> tuple[str, str]:
    tag = address.encode("utf-8", "surrogatepass").hex()
    return f"appws:fail:{tag}", f"appws:fail-start:{tag}"


async def _get(key: str, default: float) -> Any:
    backend = caches["default"]
    if isinstance(backend, LocMemCache):
        # In-process and thread-safe: no need for aget()'s hop to a thread on
        # every login.
        return backend.get(key, default)
    return await backend.aget(key, default)


async def blocked_for(address: str) -> int:
    """Seconds until ``address`` may try again; 0 when it may try now."""
    options = appws_settings()
    count_key, start_key = _keys(address)
    count = await _get(count_key, 0)
    if count < options["LOGIN_FAILURE_LIMIT"]:
        return 0
    start = await _get(start_key, time.time())
    return max(1, int(start + options["LOGIN_FAILURE_WINDOW"] - time.time()))


async def record_failure(address: str) -> None:
    """Count one failed login from ``address`` in the current window."""
    window = appws_settings()["LOGIN_FAILURE_WINDOW"]
    count_key, start_key = _keys(address)
    # add() only sets a missing key: the window starts at the first failure.
    await cache.aadd(start_key, time.time(), window)
    if not await cache.aadd(count_key, 1, window):
        try:
            await cache.aincr(count_key)
        except ValueError:  # expired between add and incr
            await cache.aadd(count_key, 1, window)

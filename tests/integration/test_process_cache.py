"""appws's cache calls share one backend object per process, not one per connection."""

from __future__ import annotations

import asyncio

from django.core.cache import caches

from appws.cache import process_cache


async def test_every_task_and_thread_gets_the_same_backend():
    # Each WebSocket connection runs in a task of its own (where Django's handler
    # would make a backend, and with RedisCache a pool, for each), as these do.
    async def backend() -> object:
        return process_cache()

    first, second = await asyncio.gather(backend(), backend())
    assert first is second
    assert await asyncio.to_thread(process_cache) is first


def test_new_cache_settings_give_a_new_backend(settings):
    before = process_cache()
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": "another",
        }
    }
    after = process_cache()
    assert after is not before
    assert after._cache is caches["default"]._cache  # type: ignore[attr-defined]

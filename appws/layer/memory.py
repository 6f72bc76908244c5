"""A faster in-memory channel layer for one-process sites, and which layers stay in one."""

from __future__ import annotations

import time
from collections.abc import Mapping

from channels.layers import InMemoryChannelLayer as ChannelsInMemoryChannelLayer
from django.conf import settings

IN_MEMORY_LAYER = "appws.layers.InMemoryChannelLayer"
#: Backends whose messages never leave the process that sent them.
IN_MEMORY_LAYERS = frozenset({IN_MEMORY_LAYER, "channels.layers.InMemoryChannelLayer"})

#: Seconds between sweeps for expired messages and group memberships.
SWEEP_INTERVAL = 1.0


class InMemoryChannelLayer(ChannelsInMemoryChannelLayer):
    """Channels' in-memory layer, sweeping for expired entries at most once a second.

    Channels' own layer walks every channel and every group membership on each
    ``receive()`` and ``group_send()``, so one indication to n subscribers costs
    about n² steps. Expiry is measured in minutes; a sweep per second keeps it.
    """

    _last_sweep = 0.0

    def _clean_expired(self) -> None:
        now = time.monotonic()
        if now - self._last_sweep >= SWEEP_INTERVAL:
            self._last_sweep = now
            super()._clean_expired()  # type: ignore[misc]  # private in the stubs


def default_layer_backend() -> str | None:
    """The ``BACKEND`` of ``CHANNEL_LAYERS["default"]``; None when there is none."""
    layers = getattr(settings, "CHANNEL_LAYERS", None)
    if not isinstance(layers, Mapping):
        return None
    default = layers.get("default")
    if not isinstance(default, Mapping):
        return None
    backend = default.get("BACKEND")
    return backend if isinstance(backend, str) else None


def default_layer_is_in_memory() -> bool:
    """True when the default layer is an in-memory one: it never reaches another process."""
    return default_layer_backend() in IN_MEMORY_LAYERS

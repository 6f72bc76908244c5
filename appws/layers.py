"""A faster in-memory channel layer for one-process sites."""

from __future__ import annotations

import time

from channels.layers import InMemoryChannelLayer as ChannelsInMemoryChannelLayer

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

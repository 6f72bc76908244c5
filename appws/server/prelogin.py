"""One budget of bytes per second for every connection of a process that has not logged in.

A client that knows no password can still make the server parse its frames and work out
digests. Each such frame is cheap, but many connections sending them back to back keep
the event loop busy, and every logged-in session on the process waits behind them. The
budget caps that work at a share of the loop's time: a frame that finds it spent waits
(its connection only) until enough has come back. Logged-in sessions never wait on it.
"""

from __future__ import annotations

import asyncio
import time
import weakref


class LoginBudget:
    """A token bucket of frame bytes, spent in arrival order by connections not logged in.

    ``rate`` bytes come back per second, up to ``burst``; a frame larger than ``burst``
    spends the whole bucket once it is full. Each source (a client address) has at most
    one frame in the queue at a time, so one source with many connections cannot make
    everyone else's logins wait behind all of them.
    """

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = burst
        self.tokens = float(burst)
        self.updated = time.monotonic()
        self._turn = asyncio.Lock()  # first come, first served
        self._sources: dict[str, tuple[asyncio.Lock, int]] = {}

    def _refill(self) -> None:
        now = time.monotonic()
        self.tokens = min(float(self.burst), self.tokens + (now - self.updated) * self.rate)
        self.updated = now

    async def spend(self, size: int, source: str = "") -> None:
        """Take ``size`` bytes for a frame from ``source``, waiting while the bucket holds fewer."""
        cost = min(size, self.burst)
        lock, users = self._sources.get(source) or (asyncio.Lock(), 0)
        self._sources[source] = (lock, users + 1)
        try:
            async with lock, self._turn:
                self._refill()
                if self.tokens < cost:
                    # Rate limiting, not synchronisation: sleep until the bytes are back.
                    await asyncio.sleep((cost - self.tokens) / self.rate)
                    self._refill()
                self.tokens -= cost
        finally:
            lock, users = self._sources[source]
            if users == 1:
                del self._sources[source]
            else:
                self._sources[source] = (lock, users - 1)


_budgets: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, LoginBudget] = (
    weakref.WeakKeyDictionary()
)


def budget(rate: float, burst: int) -> LoginBudget:
    """This event loop's budget (a lock cannot be shared across loops)."""
    loop = asyncio.get_running_loop()
    current = _budgets.get(loop)
    if current is None or (current.rate, current.burst) != (rate, burst):
        current = _budgets[loop] = LoginBudget(rate, burst)
    return current

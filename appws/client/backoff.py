"""How long to wait before each attempt to reconnect."""

from __future__ import annotations

import random
from collections.abc import Iterator

__all__ = ["RESTART_JITTER", "Backoff"]

#: After a close that says the server restarts (``RESTART_CLOSE_CODES``), the first
#: attempt waits at most this long (s): soon, but not every client in the same instant.
RESTART_JITTER = 0.5


class Backoff:
    """Delays doubling from ``first`` to ``longest``, each with jitter down to half of it.

    A successful login starts the next series at ``first`` again, except after a
    slow-reader close: the server will close a client that keeps falling behind again,
    so a series after one slow-reader close continues from the last such series. After
    a restart close the first attempt comes within ``RESTART_JITTER``; the series follows
    if it fails (the restarted server is not up yet, say).
    """

    def __init__(self) -> None:
        self._slow_reader_delay = 0.0  # the first delay after the last slow-reader close

    def delays(
        self, first: float, longest: float, *, slow_reader: bool, restart: bool = False
    ) -> Iterator[float]:
        """The waits (s) before each attempt of one reconnect, endless."""
        if restart:
            yield random.uniform(0, min(first, RESTART_JITTER))
        delay = first
        if slow_reader and self._slow_reader_delay:
            delay = min(self._slow_reader_delay * 2, longest)
        self._slow_reader_delay = delay if slow_reader else 0.0
        while True:
            yield random.uniform(delay / 2, delay)  # jitter: not every client at once
            delay = min(delay * 2, longest)

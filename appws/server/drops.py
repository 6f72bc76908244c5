"""What a PBX session drops instead of answering, logged without flooding the log.

A PBX answers an error message with one of its own, or logs it forever: a reply to
the service's own request that came too late, an indication nobody handles and a
frame appws cannot read are dropped on a PBX session, never answered. Each kind is
logged at most once a minute per session, with ``api``, ``mt`` and ``src`` only:
the payload may hold users' data (a replicated user's password, encrypted).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

logger = logging.getLogger("appws")

#: Seconds between two log lines of one kind of drop on one session.
INTERVAL = 60.0

#: Kind of drop -> what the log line calls it.
KINDS = {
    "unhandled": "a message no handler takes",
    "result": "a result no request of the service waits for",
    "unreadable": "a frame that cannot be read",
    "rate-limited": "a message over PBX_RATE_LIMIT",
}


class DropLog:
    """One PBX session's drops, and when each kind was last logged."""

    __slots__ = ("_logged", "_unlogged")

    def __init__(self) -> None:
        self._logged: dict[str, float] = {}
        self._unlogged: dict[str, int] = {}

    def note(
        self, peer: str, kind: str, message: Mapping[str, Any] | None, detail: str = ""
    ) -> None:
        """Count one drop of ``kind`` (a key of :data:`KINDS`); log it unless logged lately."""
        assert kind in KINDS, kind
        now = time.monotonic()
        last = self._logged.get(kind)
        if last is not None and now - last < INTERVAL:
            self._unlogged[kind] = self._unlogged.get(kind, 0) + 1
            return
        self._logged[kind] = now
        more = self._unlogged.pop(kind, 0)
        fields = message if message is not None else {}
        logger.info(
            "PBX session from %r: dropped, not answered, %r (api=%r mt=%r src=%r %r); "
            "%d more of this kind dropped since the last such line",
            peer,
            kind,
            fields.get("api"),
            fields.get("mt"),
            fields.get("src"),
            detail,
            more,
        )

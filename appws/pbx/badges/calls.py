"""The badge calls of one PBX session: who subscribed, and the last count each was sent.

Plain state, no I/O: the feature reads and changes it from one task, in order.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["BadgeCall", "BadgeCalls"]


@dataclass
class BadgeCall:
    """One presence subscription: ``user`` (the PBX user's sip) on call id ``call``."""

    call: int
    user: str
    #: The last count sent on this call; None before the first.
    sent: int | None = None


class BadgeCalls:
    """The calls of one PBX session, by call id and by user, at most ``limit`` of them."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._calls: dict[int, BadgeCall] = {}
        self._by_user: dict[str, dict[int, BadgeCall]] = {}

    def __len__(self) -> int:
        return len(self._calls)

    def __contains__(self, call: object) -> bool:
        return call in self._calls

    def full(self) -> bool:
        """Whether another call would exceed the limit."""
        return len(self._calls) >= self.limit

    def add(self, call: int, user: str) -> BadgeCall:
        """Record a new call (one with the same id is replaced: the PBX reused it)."""
        self.forget(call)
        entry = BadgeCall(call, user)
        self._calls[call] = entry
        self._by_user.setdefault(user, {})[call] = entry
        return entry

    def get(self, call: int) -> BadgeCall | None:
        return self._calls.get(call)

    def forget(self, call: int) -> BadgeCall | None:
        """Drop call ``call`` (the PBX released it); None when it was not known."""
        entry = self._calls.pop(call, None)
        if entry is not None:
            of_user = self._by_user.get(entry.user, {})
            of_user.pop(call, None)
            if not of_user:
                self._by_user.pop(entry.user, None)
        return entry

    def of_user(self, user: str) -> list[BadgeCall]:
        """The live calls of ``user``, oldest first."""
        return list(self._by_user.get(user, {}).values())

    def clear(self) -> None:
        self._calls.clear()
        self._by_user.clear()

    @staticmethod
    def due(entry: BadgeCall, count: int) -> bool:
        """Whether ``count`` must be sent on ``entry``; marks it sent if so (never twice)."""
        if entry.sent == count:
            return False
        entry.sent = count
        return True

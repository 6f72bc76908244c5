"""``PbxSignal``: Register, and presence-subscribe calls from users to the App (badges)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from appws.testing.fakepbx.wire import Wire

__all__ = ["PresenceCall", "Signal"]

API = "PbxSignal"
_BADGE = re.compile(r"#badge:(-?\d+)")


@dataclass
class PresenceCall:
    """A presence subscription of ``user`` to ``app``, on call id ``call`` (negative).

    ``messages`` holds everything the service sent on this call, in order.
    """

    call: int
    user: str
    app: str
    connection: int
    messages: list[dict[str, Any]] = field(default_factory=list)
    released_by_service: bool = False

    @property
    def connected(self) -> bool:
        """Whether the service answered the setup with ``conn``."""
        return any(m.get("sig", {}).get("type") == "conn" for m in self.messages)

    @property
    def badges(self) -> list[int]:
        """Each badge count the service sent (``presence_notify`` ``#badge:N``), in order."""
        counts = []
        for message in self.messages:
            sig = message.get("sig")
            if not isinstance(sig, dict) or sig.get("type") != "facility":
                continue
            for facility in sig.get("fty") or ():
                if isinstance(facility, dict) and facility.get("type") == "presence_notify":
                    found = _BADGE.search(str(facility.get("note", "")))
                    if found:
                        counts.append(int(found.group(1)))
        return counts

    @property
    def badge(self) -> int | None:
        """The last badge count the service sent, or None."""
        return self.badges[-1] if self.badges else None


@dataclass
class Signal:
    """The service's registration and the calls the PBX placed to it."""

    registered: bool = False
    calls: dict[int, PresenceCall] = field(default_factory=dict)
    _next_call: int = -1

    def reset(self) -> None:
        self.registered = False
        self.calls.clear()

    async def serve(self, wire: Wire, msg: dict[str, Any]) -> bool:
        mt = msg.get("mt")
        if mt == "Register":
            self.registered = True
            await wire.reply(msg, {})
            return True
        if mt == "Signaling":
            # Answers on a call get no result (the protocol's own rule).
            call = self.calls.get(msg.get("call"))  # type: ignore[arg-type]
            if call is not None:
                call.messages.append(msg)
                if msg.get("sig", {}).get("type") == "rel":
                    call.released_by_service = True
            return True
        return False

    async def subscribe(self, wire: Wire, user: str, app: str) -> PresenceCall:
        if not self.registered:
            raise RuntimeError(
                "the service has not registered on PbxSignal (Register) on this connection: "
                "a PBX places no presence calls to it"
            )
        call = PresenceCall(self._next_call, user, app, wire.connection)
        self._next_call -= 1
        self.calls[call.call] = call
        await wire.send(
            {
                "api": API,
                "mt": "Signaling",
                "call": call.call,
                "sig": {
                    "type": "setup",
                    "cg": {"sip": user},
                    "cd": {"sip": app},
                    "fty": [{"type": "presence_subscribe"}],
                },
            }
        )
        return call

    async def release(self, wire: Wire, call: PresenceCall) -> None:
        self.calls.pop(call.call, None)
        await wire.send({"api": API, "mt": "Signaling", "call": call.call, "sig": {"type": "rel"}})

"""The ``PbxSignal`` messages of badge calls: reading a ``setup``, writing the answers."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "API",
    "REGISTER",
    "Setup",
    "answer",
    "badge",
    "call_id",
    "read_setup",
    "signal_type",
]

API = "PbxSignal"
#: Registers the session for incoming calls that carry no media (presence subscriptions).
REGISTER: dict[str, Any] = {"mt": "Register", "flags": "NO_MEDIA_CALL"}
#: The ``src`` of the badge facility messages (the vendor's own badge sample uses it).
BADGE_SRC = "badge"


@dataclass(frozen=True)
class Setup:
    """A ``setup`` on a call: who calls (``caller``, ``cg.sip``), whom (``called``, ``cd.sip``).

    ``presence`` says whether it carries a ``presence_subscribe`` facility.
    """

    call: int
    caller: str | None
    called: str | None
    presence: bool


def call_id(message: Mapping[str, Any]) -> int | None:
    """The message's ``call``, when it is an integer (not a bool)."""
    call = message.get("call")
    if isinstance(call, int) and not isinstance(call, bool):
        return call
    return None


def signal_type(message: Mapping[str, Any]) -> str | None:
    """``sig.type`` of a ``Signaling`` message, or None."""
    sig = message.get("sig")
    kind = sig.get("type") if isinstance(sig, Mapping) else None
    return kind if isinstance(kind, str) else None


def read_setup(message: Mapping[str, Any], call: int) -> Setup:
    """The parts of a ``setup`` that matter for a badge call; missing ones are None/False."""
    sig = message.get("sig")
    assert isinstance(sig, Mapping)
    facilities = sig.get("fty")
    presence = isinstance(facilities, list) and any(
        isinstance(f, Mapping) and f.get("type") == "presence_subscribe" for f in facilities
    )
    return Setup(call, _sip(sig.get("cg")), _sip(sig.get("cd")), presence)


def _sip(party: Any) -> str | None:
    sip = party.get("sip") if isinstance(party, Mapping) else None
    return sip if isinstance(sip, str) and sip else None


def answer(call: int, kind: str) -> dict[str, Any]:
    """``conn`` (accept) or ``rel`` (release) on ``call``."""
    return {"mt": "Signaling", "call": call, "sig": {"type": kind}}


def badge(call: int, count: int) -> dict[str, Any]:
    """The facility that shows ``count`` on the App's icon of the call's user."""
    notify = {
        "type": "presence_notify",
        "status": "open",
        "note": f"#badge:{count}",
        "contact": "app:",
    }
    return {
        "mt": "Signaling",
        "call": call,
        "src": BADGE_SRC,
        "sig": {"type": "facility", "fty": [notify]},
    }

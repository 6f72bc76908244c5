"""What the fields of an AppLogin may hold, and which kind of login they make.

The login digest joins its fields with ``:`` (see :mod:`.login`), so a field
holding ``:`` can move a boundary without changing the digest: a login signed
for one set of fields would verify for another. The rules here refuse every
field value that makes the join ambiguous, and only those that no real peer
sends. Why they are enough is written down in docs/security.md.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from typing import Any

from appws.protocol.login import CHALLENGE_LENGTH

__all__ = [
    "ISSUABLE_CHALLENGE",
    "LoginKind",
    "ambiguous_field",
    "forbidden_in",
    "is_issuable_challenge",
    "login_kind",
]

#: The challenges a login issuer signs: what this service and the vendor's
#: servers hand out (digits, at most 16), letters allowed. Nothing that could
#: carry a ``:`` into the digest's field join.
ISSUABLE_CHALLENGE = re.compile(rf"[0-9A-Za-z]{{1,{CHALLENGE_LENGTH}}}")

# A DNS domain, a SIP user part and a hex GUID never hold a colon; nor does an
# App name (the HTML file name of the App).
_NO_COLON_FIELDS = ("app", "domain", "sip", "guid")


class LoginKind(str, enum.Enum):
    """How a session logged in, decided from the fields the digest covers."""

    #: The PBX's App object, logging in as itself (``info.appobj`` equals ``sip``).
    PBX = "pbx"
    #: A client that held the App's password (no ``info``, or no ``info.appobj``).
    PASSWORD = "password"
    #: A login issued for a user, by a PBX or by this site's login issuer.
    USER = "user"

    def __str__(self) -> str:
        return self.value


def is_issuable_challenge(challenge: object) -> bool:
    """Whether a login issuer may sign ``challenge`` (see :data:`ISSUABLE_CHALLENGE`)."""
    return isinstance(challenge, str) and ISSUABLE_CHALLENGE.fullmatch(challenge) is not None


def _text(message: Mapping[str, Any], name: str) -> str:
    value = message.get(name)
    return value if isinstance(value, str) else ""


def ambiguous_field(message: Mapping[str, Any]) -> str | None:
    """Return the first login field whose value makes the digest's join ambiguous, or None.

    Refused: a ``:`` in ``app``, ``domain``, ``sip`` or ``guid``; in ``dn``, a
    ``:`` when ``info`` is absent, and ``:{`` when it is present (the text of
    ``info`` starts with ``{``, so only there can the ``dn``/``info`` boundary move).
    """
    for name in _NO_COLON_FIELDS:
        if ":" in _text(message, name):
            return name
    return "dn" if forbidden_in(message, "dn") in _text(message, "dn") else None


def forbidden_in(message: Mapping[str, Any], field: str) -> str:
    """What ``field`` may not hold in this login: ``:{`` in ``dn`` with ``info``, else ``:``."""
    return ":{" if field == "dn" and message.get("info") is not None else ":"


def login_kind(message: Mapping[str, Any]) -> LoginKind:
    """Decide the kind of a login from digest-covered fields only (never ``pbxObj``)."""
    info = message.get("info")
    if not isinstance(info, Mapping) or "appobj" not in info:
        return LoginKind.PASSWORD
    appobj = info["appobj"]
    if isinstance(appobj, str) and appobj and appobj == _text(message, "sip"):
        return LoginKind.PBX
    return LoginKind.USER

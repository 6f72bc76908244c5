"""Who is logged in on a connection."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from appws import protocol
from appws.accounts import AppAccount

__all__ = ["AppAccount", "Session"]


@dataclass
class Session:
    """A logged-in AppWebsocket session, as ``consumer.session``.

    The login fields are the ones the client sent (and the digest covered);
    ``pbx_obj`` was not covered by the digest. ``kind`` says how it logged in:
    the PBX's App object itself, with the App's password, or issued for a user.
    ``pbx_info`` holds the last ``PbxInfo`` a PBX sent on this connection, as sent;
    ``pbx`` the same, read (a PBX session only: a login of kind ``PBX``).
    """

    app: str
    domain: str
    sip: str
    guid: str
    dn: str
    info: Mapping[str, Any] | None
    pbx_obj: str | None
    instance_domain: str
    #: How this session logged in (:func:`appws.protocol.login_kind`).
    kind: protocol.LoginKind = protocol.LoginKind.PASSWORD
    permissions: frozenset[str] = frozenset()
    session_key: str = field(default="", repr=False)
    challenge: str = field(default="", repr=False)
    pbx_info: Mapping[str, Any] | None = None
    #: What the PBX said in its last ``PbxInfo`` (who it is, the APIs it enabled), or None.
    pbx: protocol.PbxInfo | None = None
    #: The Django user this login maps to (``consumer.get_user()``), or None.
    user: Any = None
    #: The mapped user's permissions, when handlers must also check the user
    #: (``REQUIRE_USER_PERMISSIONS``); None when only the App counts.
    user_permissions: frozenset[str] | None = None
    #: The App's own message rate for its PBX's sessions (``AppAccount.pbx_rate_limit``):
    #: None: ``PBX_RATE_LIMIT`` applies; 0: no limit.
    pbx_rate_limit: float | None = None

    def has_permission(self, permission: str | None) -> bool:
        """Whether this session may use a handler needing ``permission`` (None: always)."""
        if permission is None:
            return True
        if permission not in self.permissions:
            return False
        if self.user_permissions is None:
            return True
        return permission in self.user_permissions or bool(getattr(self.user, "is_superuser", 0))

    def encrypt(self, seed: str, text: str) -> str:
        """Encrypt ``text`` with the session key, as the vendor's ``encrypt``."""
        return protocol.encrypt(self.session_key, seed, text)

    def decrypt(self, seed: str, data: str) -> str:
        """Reverse :meth:`encrypt`; ``ValueError`` on data it did not make."""
        return protocol.decrypt(self.session_key, seed, data)

    def hash(self, seed: str, text: str) -> str:
        """Hash ``text`` keyed with the session key, as the vendor's ``hash``."""
        return protocol.keyed_hash(self.session_key, seed, text)

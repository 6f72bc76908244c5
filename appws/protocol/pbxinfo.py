"""What a PBX says about itself in ``PbxInfo``, and how a connected PBX is named."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from appws.protocol.storable import has_nul

__all__ = ["MAX_PBX_TEXT", "PbxIdentity", "PbxInfo"]

#: Longest text of a PBX's identity and ``PbxInfo`` kept: the columns of its row.
#: SQLite would store more, PostgreSQL refuses it; so it is refused on every database.
MAX_PBX_TEXT = 255


@dataclass(frozen=True)
class PbxIdentity:
    """One PBX connection's name: its domain, the PBX's name, and the App object's ``sip``.

    ``domain`` and ``sip`` come from the digest-covered login, ``pbx`` from ``PbxInfo``.
    """

    domain: str
    pbx: str
    sip: str

    def __str__(self) -> str:
        return f"{self.sip}@{self.pbx}.{self.domain}" if self.pbx else f"{self.sip}@{self.domain}"

    def matches(self, wanted: PbxIdentity | Mapping[str, str] | str) -> bool:
        """Whether this identity is, or includes, ``wanted`` (an identity, a part of one, or
        a PBX name)."""
        if isinstance(wanted, PbxIdentity):
            return wanted == self
        if isinstance(wanted, str):
            return wanted in (self.pbx, str(self))
        return all(getattr(self, key, None) == value for key, value in wanted.items())


@dataclass(frozen=True)
class PbxInfo:
    """A PBX's ``PbxInfo``: who it is and which of its APIs this connection may use."""

    identity: PbxIdentity
    dns: str
    apis: frozenset[str]
    version: str
    build: str

    @classmethod
    def from_message(cls, message: Mapping[str, Any], *, domain: str, sip: str) -> PbxInfo:
        """Read ``PbxInfo`` of a PBX that logged in with ``domain`` and ``sip``.

        ``ValueError`` names the first field of the wrong type, holding a NUL or longer
        than :data:`MAX_PBX_TEXT`. The login's domain wins over the message's: only the
        login was covered by the digest.
        """
        for key, value in (("domain", domain), ("sip", sip)):
            if len(value) > MAX_PBX_TEXT:
                raise ValueError(f"the PBX's login {key!r} is longer than {MAX_PBX_TEXT}")
        apis = message.get("apis", [])
        if not isinstance(apis, list) or not all(isinstance(api, str) for api in apis):
            raise ValueError("PbxInfo 'apis' must be a list of API names")
        if has_nul(apis):
            raise ValueError("PbxInfo 'apis' must not contain a NUL character")
        fields = {}
        for key in ("pbx", "pbxDns", "version", "build"):
            value = message.get(key, "")
            if not isinstance(value, str):
                raise ValueError(f"PbxInfo {key!r} must be a string")
            if has_nul(value):
                # Stored in the PBX's row, which PostgreSQL would refuse.
                raise ValueError(f"PbxInfo {key!r} must not contain a NUL character")
            if len(value) > MAX_PBX_TEXT:
                raise ValueError(f"PbxInfo {key!r} is longer than {MAX_PBX_TEXT} characters")
            fields[key] = value
        return cls(
            identity=PbxIdentity(domain=domain, pbx=fields["pbx"], sip=sip),
            dns=fields["pbxDns"],
            apis=frozenset(apis),
            version=fields["version"],
            build=fields["build"],
        )

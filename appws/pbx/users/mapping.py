"""PBX users and the site's Django users: the optional mapping (docs/pbx.md)."""

from __future__ import annotations

from typing import Any

__all__ = ["sip_of_user"]


def sip_of_user(user: Any) -> list[str]:
    """The h323 names of the PBX users linked to Django user ``user`` (any PBX)."""
    raise NotImplementedError

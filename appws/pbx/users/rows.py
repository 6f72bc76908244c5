"""A user row as the PBX replicates it, checked and cleaned before anything keeps it.

Pure: no Django. :func:`clean_row` strips every ``pwd`` (at any nesting level) and
raises :class:`BadRow` for a row appws must skip.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["DEFAULT_COLUMNS", "BadRow", "UserRow", "clean_row", "guid_of", "strip_secrets"]

#: The columns asked for when a service says ``replicate_users = True``.
DEFAULT_COLUMNS = (
    "guid", "h323", "cn", "dn", "e164", "node", "loc", "hide", "emails", "grps", "apps",
)  # fmt: skip


class BadRow(ValueError):
    """A row the PBX sent that appws skips; ``reason`` says why, without the row's content."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class UserRow:
    """One PBX user, ``pwd`` removed; ``raw`` is the row as sent, minus every ``pwd``."""

    guid: str
    h323: str = ""
    cn: str = ""
    dn: str = ""
    e164: str = ""
    node: str = ""
    loc: str = ""
    hide: bool = False
    apps: tuple[str, ...] = ()
    emails: tuple[str, ...] = ()
    #: ``(name, mode, dyn)`` per group membership.
    groups: tuple[tuple[str, str, str], ...] = ()
    #: The other nested lists (devices, cds, forks, ...), by column.
    lists: dict[str, Any] = field(default_factory=dict)
    raw: dict[str, Any] = field(default_factory=dict)


def strip_secrets(value: Any) -> Any:
    """``value`` with every ``pwd`` key removed, at every nesting level."""
    raise NotImplementedError


def guid_of(columns: Mapping[str, Any]) -> str:
    """The row's key (32 hex digits, lower case); BadRow when it has none."""
    raise NotImplementedError


def clean_row(columns: Mapping[str, Any], *, max_bytes: int) -> UserRow:
    """Check and convert one row of ``ReplicateNextResult``/``Add``/``Update``."""
    raise NotImplementedError

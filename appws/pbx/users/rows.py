"""A user row as the PBX replicates it, checked and cleaned before anything keeps it.

Pure: no Django. :func:`clean_row` strips every ``pwd`` (at any nesting level) and
raises :class:`BadRow` for a row appws must skip.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from appws.protocol.storable import has_nul

__all__ = [
    "DEFAULT_COLUMNS",
    "MAX_LENGTHS",
    "SECRET_KEYS",
    "BadRow",
    "UserRow",
    "clean_row",
    "guid_of",
    "strip_secrets",
]

#: The columns asked for when a service says ``replicate_users = True``.
DEFAULT_COLUMNS = (
    "guid", "h323", "cn", "dn", "e164", "node", "loc", "hide", "emails", "grps", "apps",
)  # fmt: skip

#: Keys removed at every nesting level before a row is kept anywhere.
SECRET_KEYS = frozenset({"pwd"})

#: Longest value of each column stored in a field of its own (the models use these):
#: a longer one makes the row bad, where PostgreSQL would otherwise fail the batch.
MAX_LENGTHS: dict[str, int] = {
    "h323": 255,
    "cn": 255,
    "dn": 255,
    "e164": 64,
    "node": 255,
    "loc": 255,
    "email": 254,
    "group": 255,
    "mode": 32,
    "dyn": 32,
}

_STRINGS = ("h323", "cn", "dn", "e164", "node", "loc", "apps", "apps-my", "config", "pseudo")
_BOOLEANS = ("hide", "h323-email", "fax")
#: Nested lists of objects kept in ``UserRow.lists`` (emails and groups have fields).
_LISTS = ("devices", "cds", "forks", "allows", "t-allows", "wakeups")
_GUID = re.compile(r"[0-9a-fA-F]{32}")


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
    #: Lower case, each once.
    emails: tuple[str, ...] = ()
    #: ``(name, mode, dyn)`` per group membership.
    groups: tuple[tuple[str, str, str], ...] = ()
    #: The other nested lists (devices, cds, forks, ...), by column.
    lists: dict[str, Any] = field(default_factory=dict)
    raw: dict[str, Any] = field(default_factory=dict)


def strip_secrets(value: Any) -> Any:
    """``value`` with every ``pwd`` key removed, at every nesting level."""
    if isinstance(value, Mapping):
        return {
            key: strip_secrets(item)
            for key, item in value.items()
            if not (isinstance(key, str) and key.lower() in SECRET_KEYS)
        }
    if isinstance(value, (list, tuple)):
        return [strip_secrets(item) for item in value]
    return value


def guid_of(columns: Mapping[str, Any]) -> str:
    """The row's key (32 hex digits, lower case); BadRow when it has none."""
    guid = columns.get("guid")
    if not isinstance(guid, str) or not _GUID.fullmatch(guid):
        raise BadRow("no guid of 32 hex digits")
    return guid.lower()


def clean_row(columns: Mapping[str, Any], *, max_bytes: int) -> UserRow:
    """Check and convert one row of ``ReplicateNextResult``/``Add``/``Update``."""
    if not isinstance(columns, Mapping):
        raise BadRow("columns is not an object")
    guid = guid_of(columns)
    try:
        size = len(json.dumps(columns, ensure_ascii=False, separators=(",", ":")).encode())
    except (TypeError, ValueError):
        raise BadRow("the row is not JSON") from None
    if size > max_bytes:
        raise BadRow(f"the row has {size} bytes, more than the limit of {max_bytes}")
    raw = strip_secrets(columns)
    # PostgreSQL stores no NUL character, in text or JSON: one would fail the whole batch.
    if has_nul(raw):
        raise BadRow("the row holds a NUL character")
    for name in _STRINGS:
        _check(raw, name, str, "a string")
    for name in _BOOLEANS:
        _check(raw, name, bool, "true or false")
    for name in ("emails", "grps", *_LISTS):
        _check_objects(raw, name)
    strings = {name: raw.get(name, "") for name in ("h323", "cn", "dn", "e164", "node", "loc")}
    for name, text in strings.items():
        _check_length(name, text, name)
    return UserRow(
        guid=guid,
        hide=bool(raw.get("hide", False)),
        apps=tuple(dict.fromkeys(a.strip() for a in raw.get("apps", "").split(",") if a.strip())),
        emails=_emails(raw.get("emails", [])),
        groups=_groups(raw.get("grps", [])),
        lists={name: raw[name] for name in _LISTS if name in raw},
        raw=raw,
        **strings,
    )


def _check(raw: Mapping[str, Any], name: str, kind: type, wanted: str) -> None:
    if name in raw and not isinstance(raw[name], kind):
        raise BadRow(f"column {name!r} is not {wanted}")


def _check_objects(raw: Mapping[str, Any], name: str) -> None:
    value = raw.get(name, [])
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise BadRow(f"column {name!r} is not a list of objects")


def _check_length(name: str, text: str, limit: str) -> None:
    if len(text) > MAX_LENGTHS[limit]:
        raise BadRow(f"column {name!r} is longer than {MAX_LENGTHS[limit]} characters")


def _emails(items: list[dict[str, Any]]) -> tuple[str, ...]:
    found: dict[str, None] = {}
    for item in items:
        email = item.get("email")
        if not isinstance(email, str):
            raise BadRow("an entry of column 'emails' has no string 'email'")
        _check_length("emails", email, "email")
        if email.strip():
            found[email.strip().lower()] = None
    return tuple(found)


def _groups(items: list[dict[str, Any]]) -> tuple[tuple[str, str, str], ...]:
    found: dict[str, tuple[str, str, str]] = {}
    for item in items:
        name = item.get("name")
        if not isinstance(name, str) or not name:
            raise BadRow("an entry of column 'grps' has no string 'name'")
        mode, dyn = item.get("mode", ""), item.get("dyn", "")
        if not isinstance(mode, str) or not isinstance(dyn, str):
            raise BadRow("an entry of column 'grps' has a 'mode' or 'dyn' that is not a string")
        _check_length("grps", name, "group")
        _check_length("grps", mode, "mode")
        _check_length("grps", dyn, "dyn")
        found.setdefault(name, (name, mode, dyn))
    return tuple(found.values())

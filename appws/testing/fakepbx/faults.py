"""Malformed replication rows, for ``FakePbx.inject_row``; and frames no PBX should send."""

from __future__ import annotations

from typing import Any

from appws.testing.fakepbx.users import new_user

__all__ = [
    "NOT_AN_OBJECT",
    "NOT_JSON",
    "NO_MT",
    "oversized_row",
    "row_of_wrong_types",
    "row_without_guid",
]

#: Frames a service must survive: not JSON, JSON but no object, an object without ``mt``.
NOT_JSON = "{this is not json"
NOT_AN_OBJECT = '["PbxInfo"]'
NO_MT = '{"api":"PbxTableUsers","src":"x"}'


def row_without_guid(h323: str = "noguid") -> dict[str, Any]:
    row = new_user(h323)
    del row["guid"]
    return row


def row_of_wrong_types(h323: str = "wrongtypes") -> dict[str, Any]:
    """A row whose string columns hold a number, a list and an object; ``hide`` a string."""
    return new_user(h323, cn=42, dn=["not", "text"], e164={"no": "string"}, hide="yes")


def oversized_row(size: int, h323: str = "oversized") -> dict[str, Any]:
    """A row whose ``cn`` alone is ``size`` characters long."""
    return new_user(h323, cn="x" * size)

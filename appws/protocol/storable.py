"""What a database can store of the text a client or a PBX sends.

PostgreSQL stores no NUL character (U+0000), in a text column or in JSON; SQLite takes
it. Values bound for the database are refused when they hold one, on every database,
so that a site behaves the same on both.
"""

from __future__ import annotations

from typing import Any

__all__ = ["has_nul"]


def has_nul(value: Any) -> bool:
    """Whether ``value`` (text, or JSON lists and objects, keys included) holds a NUL."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(has_nul(key) or has_nul(item) for key, item in value.items())
    if isinstance(value, list | tuple):
        return any(has_nul(item) for item in value)
    return False

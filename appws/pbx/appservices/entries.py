"""What a ``ServicesInfo`` may list: the entries kept, and why the others are skipped.

No Django here: the feature stores what :func:`clean_services` returns.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from appws.protocol.storable import has_nul

__all__ = ["MAX_FIELD", "MAX_INFO", "MAX_SERVICES", "Cleaned", "clean_entry", "clean_services"]

#: At most this many services are kept from one ServicesInfo; the rest are skipped.
MAX_SERVICES = 500
#: Longest name, title or URL kept (characters).
MAX_FIELD = 2048
#: Largest ``info`` object kept (characters of its JSON).
MAX_INFO = 16 * 1024

_SCHEMES = ("ws", "wss", "http", "https")


@dataclass(frozen=True)
class Cleaned:
    """The entries kept (JSON values, as stored), and a reason per entry skipped."""

    services: list[dict[str, Any]]
    skipped: list[str]


def clean_entry(entry: Any) -> dict[str, Any]:
    """The stored form of one listed service; ``ValueError`` says why it is skipped."""
    if not isinstance(entry, Mapping):
        raise ValueError(f"an entry is a {type(entry).__name__}, not an object")
    name, url, title = entry.get("name"), entry.get("url"), entry.get("title", "")
    if not isinstance(name, str) or not name:
        raise ValueError("an entry has no string name")
    if not isinstance(url, str) or urlsplit(url).scheme.lower() not in _SCHEMES:
        raise ValueError(f"service {name[:100]!r} has no ws(s):// or http(s):// url")
    if title is None:
        title = ""
    if not isinstance(title, str):
        raise ValueError(f"service {name[:100]!r} has a title that is no string")
    if max(len(name), len(url), len(title)) > MAX_FIELD:
        raise ValueError(f"service {name[:100]!r} has a field over {MAX_FIELD} characters")
    info = entry.get("info") or {}
    if not isinstance(info, Mapping):
        raise ValueError(f"service {name[:100]!r} has an info that is no object")
    if len(json.dumps(info, separators=(",", ":"))) > MAX_INFO:
        raise ValueError(f"service {name[:100]!r} has an info over {MAX_INFO} characters")
    if has_nul([name, url, title, dict(info)]):
        # Stored in the PBX's row (JSON), which PostgreSQL would refuse whole.
        raise ValueError(f"service {name[:100]!r} holds a NUL character")
    return {"name": name, "title": title, "url": url, "info": dict(info)}


def clean_services(value: Any) -> Cleaned:
    """The services of a ``ServicesInfo``'s ``services`` member, bad entries left out.

    Not a list: nothing kept. A name listed twice keeps its first entry.
    """
    if not isinstance(value, list):
        return Cleaned([], [f"services is a {type(value).__name__}, not a list"])
    kept: list[dict[str, Any]] = []
    skipped: list[str] = []
    names: set[str] = set()
    for entry in value:
        if len(kept) >= MAX_SERVICES:
            skipped.append(f"more than {MAX_SERVICES} services listed: the rest are left out")
            break
        try:
            service = clean_entry(entry)
        except ValueError as error:
            skipped.append(str(error))
            continue
        if service["name"] in names:
            skipped.append(f"service {service['name'][:100]!r} is listed twice")
            continue
        names.add(service["name"])
        kept.append(service)
    return Cleaned(kept, skipped)

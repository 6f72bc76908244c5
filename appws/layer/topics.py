"""Map subscription topics (any text) to valid channel-layer group names."""

from __future__ import annotations

import hashlib
import re

# Channels accepts ASCII letters, digits, "-", "_" and "." in group names,
# shorter than 100 characters.
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")
_READABLE_PART = 40


def group_name(topic: str, prefix: str = "appws") -> str:
    """Return the channel-layer group carrying indications of ``topic``.

    The name keeps a readable slice of the topic for debugging and a hash of
    the whole topic for uniqueness, so any text (any length, any script) works.
    """
    if not isinstance(topic, str):
        raise TypeError(f"topic must be a string, not {type(topic).__name__}")
    digest = hashlib.sha256(topic.encode("utf-8", "surrogatepass")).hexdigest()[:32]
    readable = _UNSAFE.sub("_", topic)[:_READABLE_PART]
    return f"{prefix[:20]}.t.{readable}.{digest}"

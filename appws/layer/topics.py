"""Map subscription topics (any text) to valid channel-layer group names."""

from __future__ import annotations

import hashlib
import re

from appws.conf import get_settings

# Channels accepts ASCII letters, digits, "-", "_" and "." in group names,
# shorter than 100 characters.
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")
_READABLE_PART = 40


def group_name(topic: str, prefix: str | None = None) -> str:
    """Return the channel-layer group carrying indications of ``topic``.

    The name keeps a readable slice of the topic for debugging and a hash of
    the whole topic for uniqueness, so any text (any length, any script) works.
    ``prefix`` defaults to ``APPWS["GROUP_PREFIX"]``.
    """
    if prefix is None:
        prefix = get_settings().group_prefix
    if not isinstance(topic, str):
        raise TypeError(f"topic must be a string, not {type(topic).__name__}")
    digest = hashlib.sha256(topic.encode("utf-8", "surrogatepass")).hexdigest()[:32]
    readable = _UNSAFE.sub("_", topic)[:_READABLE_PART]
    return f"{prefix[:20]}.t.{readable}.{digest}"

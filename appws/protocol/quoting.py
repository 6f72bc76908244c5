"""How a client-chosen value is shown in error texts: the one rule, used everywhere."""

from __future__ import annotations

__all__ = ["quote"]

_SHOWN_NAME = 80  # longest client-sent name quoted back in full


def quote(value: str) -> str:
    """``repr`` of a client-sent name, shortened for error texts and log lines."""
    return repr(value if len(value) <= _SHOWN_NAME else value[:_SHOWN_NAME] + "...")

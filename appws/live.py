"""Live sessions: rows for logged-in connections, heartbeats, and messages to them."""

from __future__ import annotations


def notify_app_changed(name: str) -> None:
    """Tell every live session of App ``name`` to re-read it (placeholder)."""

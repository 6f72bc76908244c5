"""PBX connections seen from the whole site (docs/pbx.md)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from appws.pbx.connected import ConnectedPbx, connected_pbxs

__all__ = ["ConnectedPbx", "connected_pbxs"]

_LAZY = {
    "ConnectedPbx": "appws.pbx.connected",
    "connected_pbxs": "appws.pbx.connected",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from importlib import import_module

        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'appws.pbx' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))

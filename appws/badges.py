"""Badge counts on App icons, from any view, task or process (docs/pbx.md, "Badge counts").

``appws.badges.set(app, user, count)`` and ``set_many(app, {user: count})`` from
synchronous code, ``await appws.badges.aset(...)`` / ``aset_many`` from async code.
The implementation (:mod:`appws.pbx.badges.api`) loads Django on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from appws.pbx.badges.api import aset, aset_many, set, set_many

__all__ = ["aset", "aset_many", "set", "set_many"]

_LAZY = frozenset(__all__)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from appws.pbx.badges import api

        return getattr(api, name)
    raise AttributeError(f"module 'appws.badges' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})

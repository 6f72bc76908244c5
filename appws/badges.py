"""Badge counts on App icons, from any view, task or process (docs/pbx.md, "Badge counts").

``appws.badges.set(app, user, count)`` and ``set_many(app, {user: count})`` from
synchronous code, ``await appws.badges.aset(...)`` / ``aset_many`` from async code.
The implementation (:mod:`appws.pbx.badges.api`) loads Django on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from appws._lazy import lazy_exports

if TYPE_CHECKING:
    from appws.pbx.badges.api import aset, aset_many, set, set_many

__all__ = ["aset", "aset_many", "set", "set_many"]

_LAZY = dict.fromkeys(__all__, "appws.pbx.badges.api")


__getattr__, __dir__ = lazy_exports(__name__, _LAZY, __all__)

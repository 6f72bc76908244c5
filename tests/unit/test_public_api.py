"""Each public package's ``__all__`` is exactly what it provides, and all of it imports.

``appws`` loads most of its names lazily (``__getattr__``); a name added to ``__all__``
but not to the lazy table, or the other way round, fails here rather than in a user's
``from appws import *``.
"""

from __future__ import annotations
import __future__

import collections.abc
import importlib
import types
import typing

import pytest

PACKAGES = ["appws", "appws.badges", "appws.client", "appws.pbx", "appws.protocol", "appws.testing"]


def _is_import_helper(name: str, value: object) -> bool:
    """``annotations``, ``TYPE_CHECKING``, ``Any``, ...: imported for the module's own use."""
    return any(
        getattr(source, name, _MISSING) is value for source in (typing, collections.abc, __future__)
    )


_MISSING = object()


def provided(module: types.ModuleType) -> set[str]:
    """The public names ``dir(module)`` lists, less submodules and typing helpers."""
    names = set()
    for name in dir(module):
        if name.startswith("_") and name != "__version__":
            continue
        value = getattr(module, name)
        if isinstance(value, types.ModuleType) or _is_import_helper(name, value):
            continue
        names.add(name)
    return names


@pytest.mark.parametrize("package", PACKAGES)
def test_all_is_exactly_what_the_package_provides(package: str) -> None:
    module = importlib.import_module(package)
    exported = list(module.__all__)
    assert len(exported) == len(set(exported)), f"{package}.__all__ lists a name twice"
    assert set(exported) == provided(module)


@pytest.mark.parametrize("package", PACKAGES)
def test_every_name_in_all_resolves(package: str) -> None:
    module = importlib.import_module(package)
    for name in module.__all__:
        assert getattr(module, name) is not None, f"{package}.{name}"
    namespace: dict[str, object] = {}
    exec(f"from {package} import *", namespace)
    assert set(module.__all__) <= set(namespace)


def test_lazy_names_load_their_own_object() -> None:
    import appws
    from appws.accounts import AppAccount
    from appws.layer.notify import anotify, notify, notify_on_commit
    from appws.server.consumer import AppWebsocketConsumer
    from appws.server.session import Session

    assert appws.AppAccount is AppAccount
    assert appws.AppWebsocketConsumer is AppWebsocketConsumer
    assert appws.Session is Session
    assert (appws.notify, appws.anotify, appws.notify_on_commit) == (
        notify,
        anotify,
        notify_on_commit,
    )
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        _ = appws.nothing  # type: ignore[attr-defined]

"""Names a package exports but imports only on first use (PEP 562).

The public packages keep ``import appws`` (and ``appws.pbx``, ``appws.badges``,
``appws.testing``) free of Django until a name that needs it is used, so that it
works before settings are configured and in scripts that only start processes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from importlib import import_module
from typing import Any


def lazy_exports(
    package: str, where: Mapping[str, str], public: Iterable[str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The ``__getattr__`` and ``__dir__`` of ``package``.

    ``where`` maps each lazy name to its module; ``dir()`` lists ``public`` (the
    package's ``__all__``), so that completion shows the whole API and nothing else.
    """
    names = sorted({*public, *where})

    def __getattr__(name: str) -> Any:
        module = where.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(import_module(module), name)

    def __dir__() -> list[str]:
        return list(names)

    return __getattr__, __dir__

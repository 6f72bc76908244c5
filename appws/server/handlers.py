"""The ``@mt`` decorator and the per-class registry of message handlers.

The decorator only marks a method; :func:`collect_handlers` reads the marks
once, when a consumer class is created. Dispatch then looks handlers up by
``(api, mt)`` in a dict, so a client-chosen string never reaches ``getattr``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from appws.server.reserved import RESERVED_MTS

F = TypeVar("F", bound=Callable[..., Any])

MARK = "_appws_marks"


@dataclass(frozen=True)
class Mark:
    """What ``@mt`` records on a method."""

    mt: str
    api: str | None
    permission: str | None
    reply: str
    db: bool


@dataclass(frozen=True)
class Handler:
    """A registered handler: the attribute to call and how to call it."""

    mt: str
    api: str | None
    attr: str
    permission: str | None
    reply: str
    is_async: bool
    db: bool
    doc: str


def mt(
    message_type: str,
    *,
    api: str | None = None,
    permission: str | None = None,
    reply: str | None = None,
    db: bool = False,
) -> Callable[[F], F]:
    """Mark a consumer method as the handler of ``message_type``.

    - ``api``: the handler serves messages carrying this ``api`` field only.
    - ``permission``: a Django permission (``"app_label.codename"``) the
      logged-in App must carry; otherwise the reply is ``error: "forbidden"``.
    - ``reply``: the ``mt`` of the reply; default ``message_type + "Result"``.
    - ``db``: for *async* handlers that use Django's async ORM: close stale
      database connections first. Sync handlers always get that, because they
      run through ``database_sync_to_async``.

    A method may carry several ``@mt`` marks.
    """
    if not isinstance(message_type, str) or not message_type:
        raise TypeError("@mt needs a non-empty message type string")
    if api is None and message_type in RESERVED_MTS:
        raise TypeError(
            f"{message_type!r} is handled by appws itself; override the consumer's "
            "hooks (get_app, get_app_info, ...) instead of handling it"
        )
    mark = Mark(message_type, api, permission, reply or f"{message_type}Result", db)

    def decorate(func: F) -> F:
        marks = getattr(func, MARK, ())
        setattr(func, MARK, (*marks, mark))
        return func

    return decorate


def collect_handlers(cls: type) -> dict[tuple[str | None, str], Handler]:
    """Build the ``(api, mt) -> Handler`` registry of a class and its bases.

    A subclass may re-mark a message type on another method (it wins), or
    redefine a marked method without marks (the new code serves the same
    message types), or set it to ``None`` to withdraw it. Two methods of one
    class marking the same type is an error.
    """
    owners: dict[tuple[str | None, str], tuple[str, Mark]] = {}
    for klass in reversed(cls.__mro__):
        claimed_here: dict[tuple[str | None, str], str] = {}
        for attr, value in vars(klass).items():
            for mark in getattr(value, MARK, ()):
                key = (mark.api, mark.mt)
                if key in claimed_here and claimed_here[key] != attr:
                    raise TypeError(
                        f"{klass.__qualname__}: both {claimed_here[key]}() and {attr}() "
                        f"handle mt={mark.mt!r} api={mark.api!r}"
                    )
                claimed_here[key] = attr
                owners[key] = (attr, mark)

    registry: dict[tuple[str | None, str], Handler] = {}
    for key, (attr, mark) in owners.items():
        func = getattr(cls, attr)
        if func is None:  # a subclass set the method to None to withdraw it
            continue
        registry[key] = Handler(
            mt=mark.mt,
            api=mark.api,
            attr=attr,
            permission=mark.permission,
            reply=mark.reply,
            is_async=inspect.iscoroutinefunction(func),
            db=mark.db,
            doc=inspect.getdoc(func) or "",
        )
    return registry

"""The App Services a site serves, read from its ASGI application's routes.

:func:`services` imports ``settings.ASGI_APPLICATION`` and walks it the way a
connection would be routed: protocol routers (only their ``"websocket"``
branch), middleware wrappers (``inner``, or ``application`` for
``OriginValidator``), ``URLRouter`` routes (nested routers add their pattern
as a prefix), down to ``as_asgi()`` apps whose ``consumer_class`` is an
:class:`~appws.server.consumer.AppWebsocketConsumer`. :func:`routes` is that
walk, for everything that needs the routes: the catalogue here, and the
system check warning about services behind an origin validator that refuses
a PBX (which sends no ``Origin``).

When ``ASGI_APPLICATION`` is unset or cannot be imported, :func:`services`
raises ``ImproperlyConfigured`` with a sentence saying what to fix; the
admin page shows that sentence, the ``appws_services`` command turns it into
a ``CommandError``.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from channels.security.websocket import OriginValidator
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from appws.server.consumer import AppWebsocketConsumer

#: Attributes through which ASGI middleware reaches the application it wraps.
_WRAPPED = ("inner", "application")


@dataclass(frozen=True)
class HandlerEntry:
    """One message type a service handles."""

    mt: str
    api: str | None
    permission: str | None
    reply: str
    mode: str  # "async" or "sync"
    doc: str


@dataclass
class ServiceEntry:
    """One App Service class and where the site routes it."""

    path: str  # dotted path of the class
    doc: str  # first line of the class docstring, "" without one
    apps: list[str]
    paths: list[str] = field(default_factory=list)
    handlers: list[HandlerEntry] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.path.rsplit(".", 1)[-1]


def load_asgi_application() -> Any:
    """Import and return the object ``settings.ASGI_APPLICATION`` names."""
    dotted = getattr(settings, "ASGI_APPLICATION", None)
    if not dotted or not isinstance(dotted, str) or "." not in dotted:
        raise ImproperlyConfigured(
            "The ASGI_APPLICATION setting is not set: set it to the dotted path of the "
            "site's ASGI application (e.g. 'mysite.asgi.application') so the App Services "
            "it routes can be listed."
        )
    module_path, name = dotted.rsplit(".", 1)
    try:
        module = importlib.import_module(module_path)
    except ImportError as error:
        raise ImproperlyConfigured(
            f"ASGI_APPLICATION names {dotted!r}, but module {module_path!r} cannot be "
            f"imported ({error}): correct the setting or the module."
        ) from error
    try:
        return getattr(module, name)
    except AttributeError as error:
        raise ImproperlyConfigured(
            f"ASGI_APPLICATION names {dotted!r}, but module {module_path!r} has no "
            f"{name!r}: correct the setting."
        ) from error


def _first_line(doc: str | None) -> str:
    if not doc:
        return ""
    lines = inspect.cleandoc(doc).splitlines()
    return lines[0].strip() if lines else ""


def _handler_sort_key(entry: HandlerEntry) -> tuple[str, str]:
    return (entry.api or "", entry.mt)


def _entry(cls: type[AppWebsocketConsumer]) -> ServiceEntry:
    handlers = [
        HandlerEntry(
            mt=handler.mt,
            api=handler.api,
            permission=handler.permission,
            reply=handler.reply,
            mode="async" if handler.is_async else "sync",
            doc=handler.doc,
        )
        for handler in cls.handlers.values()
    ]
    handlers.sort(key=_handler_sort_key)
    return ServiceEntry(
        path=f"{cls.__module__}.{cls.__qualname__}",
        # The class's own docstring: inspect.getdoc() would inherit the base class's.
        doc=_first_line(vars(cls).get("__doc__")),
        apps=[str(app) for app in cls.apps],
        handlers=handlers,
    )


@dataclass(frozen=True)
class Route:
    """One way ``application`` routes a WebSocket connection to an App Service class."""

    consumer: type[AppWebsocketConsumer]
    path: str  # the URLRouter patterns on the way, joined
    #: An OriginValidator on the way refuses connections that send no Origin (a PBX).
    refuses_missing_origin: bool


def _refuses_missing_origin(app: object) -> bool:
    if not isinstance(app, OriginValidator):
        return False
    if type(app).valid_origin is not OriginValidator.valid_origin:
        return False  # a subclass deciding for itself, e.g. letting a PBX in
    return "*" not in app.allowed_origins


def routes(application: Any) -> Iterator[Route]:
    """Every route of ``application`` to an App Service, in routing order.

    A class routed under several paths, or both behind and outside a strict
    origin validator, appears once for each.
    """
    seen: set[tuple[int, str, bool]] = set()

    def visit(app: Any, prefix: str, guarded: bool) -> Iterator[Route]:
        if app is None or (id(app), prefix, guarded) in seen:
            return
        seen.add((id(app), prefix, guarded))
        guarded = guarded or _refuses_missing_origin(app)
        mapping = getattr(app, "application_mapping", None)
        if isinstance(mapping, Mapping):  # ProtocolTypeRouter: only WebSockets matter
            yield from visit(mapping.get("websocket"), prefix, guarded)
            return
        routed = getattr(app, "routes", None)
        if isinstance(routed, (list, tuple)):  # URLRouter
            for route in routed:
                pattern = str(getattr(route, "pattern", ""))
                yield from visit(getattr(route, "callback", None), prefix + pattern, guarded)
            return
        consumer = getattr(app, "consumer_class", None)
        if isinstance(consumer, type):
            if issubclass(consumer, AppWebsocketConsumer):
                yield Route(consumer, prefix, guarded)
            return
        for attr in _WRAPPED:
            inner = getattr(app, attr, None)
            if inner is not None and inner is not app:
                yield from visit(inner, prefix, guarded)
                return

    return visit(application, "", False)


def walk(application: Any) -> list[ServiceEntry]:
    """Return the App Services routed by ``application``, in routing order."""
    found: dict[type, ServiceEntry] = {}
    for route in routes(application):
        entry = found.get(route.consumer)
        if entry is None:
            entry = found[route.consumer] = _entry(route.consumer)
        if route.path not in entry.paths:
            entry.paths.append(route.path)
    return list(found.values())


def services() -> list[ServiceEntry]:
    """Return every App Service class the site's ``ASGI_APPLICATION`` routes.

    Raises ``ImproperlyConfigured`` when the setting is unset or its object
    cannot be imported.
    """
    return walk(load_asgi_application())

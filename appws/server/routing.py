"""URL routes for App Services: one WebSocket path per App name."""

from __future__ import annotations

import re
from typing import Any

from django.urls import URLPattern, path, re_path

from appws.server.consumer import AppWebsocketConsumer
from appws.server.unrouted import UnknownPathRefuser


def service_urls(*services: type[AppWebsocketConsumer], prefix: str = "apps/") -> list[URLPattern]:
    """Return a ``path()`` at ``<prefix><app>`` for every App of every service.

    That is the App URL a PBX App object points at, e.g. ``/apps/notes``; a
    login there must be for that App.
    Use the list in a Channels ``URLRouter``. Its last route refuses any
    other path under ``prefix`` (handshake refused, one warning naming the
    path and the known ones) instead of Channels' HTTP 500; with an empty
    ``prefix`` that is every path, so list your own routes before it.
    """
    routes: list[URLPattern] = []
    seen: dict[str, str] = {}
    for service in services:
        if not service.apps:
            raise ValueError(f"{service.__qualname__} serves no Apps: set its 'apps' attribute")
        app: Any
        for app in service.apps:
            if app in seen:
                raise ValueError(
                    f"App {app!r} is served by both {seen[app]} and {service.__qualname__}"
                )
            seen[app] = service.__qualname__
            # Channels' URLRouter takes ASGI apps where Django's stubs expect views.
            consumer: Any = service.as_asgi()
            routes.append(path(f"{prefix}{app}", consumer, {"app": app}, name=f"appws-{app}"))
    refuser: Any = UnknownPathRefuser(list(seen))
    routes.append(re_path(f"^{re.escape(prefix)}", refuser, name="appws-unknown"))
    return routes

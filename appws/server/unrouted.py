"""The last route of ``service_urls()``: refuse a WebSocket path no App Service serves."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

logger = logging.getLogger("appws")

#: How many known paths a refusal's log line names before it says "and N more".
SHOWN_PATHS = 10


class UnknownPathRefuser:
    """ASGI app that refuses the handshake (HTTP 403) with one warning line.

    Without it Channels' ``URLRouter`` raises ``ValueError`` for a path it
    cannot route, which the server answers with HTTP 500 and a traceback.
    """

    def __init__(self, apps: Sequence[str]) -> None:
        self.apps = tuple(apps)

    def known_paths(self, scope: dict[str, Any]) -> str:
        path = str(scope.get("path", ""))
        remaining = str(scope.get("path_remaining", ""))
        # What the routers matched on the way here (outer prefixes and ours).
        base = path[: len(path) - len(remaining)] if remaining else path
        known = [base + app for app in self.apps[:SHOWN_PATHS]]
        more = len(self.apps) - len(known)
        return ", ".join(known) + (f" and {more} more" if more > 0 else "")

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope.get("type") != "websocket":
            raise ValueError(f"No route found for path {scope.get('path')!r}.")
        message = await receive()
        if message.get("type") != "websocket.connect":
            return  # the client left before the handshake
        logger.warning(
            "WebSocket path %r refused: no App Service there (known: %r)",
            scope.get("path"),
            self.known_paths(scope),
        )
        await send({"type": "websocket.close"})

"""Where a connection comes from, read from its ASGI scope."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class ClientScope:
    """The client's address, the headers it sent, the route it came in on."""

    __slots__ = ("_scope",)

    def __init__(self, scope: Mapping[str, Any]) -> None:
        self._scope = scope

    @property
    def peer(self) -> str:
        """The client's address as the ASGI server reports it (``scope["client"]``)."""
        client = self._scope.get("client")
        return str(client[0]) if client else "unknown"

    @property
    def path(self) -> str | None:
        """The path of the WebSocket URL."""
        path: str | None = self._scope.get("path")
        return path

    @property
    def route_app(self) -> str | None:
        """The App named by the route this socket came in on (``service_urls``)."""
        app: str | None = self._scope.get("url_route", {}).get("kwargs", {}).get("app")
        return app

    @property
    def host(self) -> str:
        """The Host header the client sent ("" without one)."""
        return self.header(b"host") or ""

    def header(self, name: bytes) -> str | None:
        """The value of header ``name`` (lowercase bytes), or None."""
        for key, value in self._scope.get("headers", ()):
            if key == name:
                return str(value.decode("latin-1"))
        return None

"""Compatibility path: the code lives in :mod:`appws.server.routing`."""

from __future__ import annotations

from appws.server.routing import service_urls

__all__ = ["service_urls"]

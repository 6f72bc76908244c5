"""Compatibility path: the code lives in :mod:`appws.layer.outage`."""

from __future__ import annotations

from appws.layer.outage import is_layer_outage, retry_once

__all__ = ["is_layer_outage", "retry_once"]

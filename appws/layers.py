"""Compatibility path: the code lives in :mod:`appws.layer.memory`."""

from __future__ import annotations

from appws.layer.memory import IN_MEMORY_LAYER, IN_MEMORY_LAYERS, InMemoryChannelLayer

__all__ = ["IN_MEMORY_LAYER", "IN_MEMORY_LAYERS", "InMemoryChannelLayer"]

"""Compatibility path: the code lives in :mod:`appws.layer.capacity`."""

from __future__ import annotations

from appws.layer.capacity import dropped_indications, lost_notifications

__all__ = ["dropped_indications", "lost_notifications"]

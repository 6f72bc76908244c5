"""Compatibility path: the code lives in :mod:`appws.layer.topics`."""

from __future__ import annotations

from appws.layer.topics import group_name

__all__ = ["group_name"]

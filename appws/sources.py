"""Compatibility path: the code lives in :mod:`appws.accounts`."""

from __future__ import annotations

from appws.accounts import load_app

__all__ = ["load_app"]

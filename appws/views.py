"""Compatibility path: the code lives in :mod:`appws.http.issuer`."""

from __future__ import annotations

from appws.http.issuer import APP_PAGE_PREFIX, issue_login

__all__ = ["APP_PAGE_PREFIX", "issue_login"]

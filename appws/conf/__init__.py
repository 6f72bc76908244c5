"""The ``APPWS`` setting: one dict in the Django settings, merged over defaults.

- :data:`DEFAULTS` (``defaults.py``): every key, its default and what it means.
- :func:`get_settings` (``settings.py``): the merged setting as a frozen, typed
  :class:`AppwsSettings`, built on first use and rebuilt only when Django's
  ``setting_changed`` signal names ``APPWS`` (``override_settings``, the test
  ``settings`` fixture).
- :func:`problems` (``validation.py``): every rule of a valid setting, as
  :class:`Problem` records that ``manage.py check`` reports (``appws.E002`` to
  ``appws.E008``, ``appws.W007``, ``appws.W008``).

What the running server does with an invalid ``APPWS``: a setting that is not a
dict, or that has unknown keys (a misspelt key would silently fall back to its
default), raises ``ImproperlyConfigured`` from :func:`get_settings`, so nothing
serves with it. An ``APPS`` entry without a string password raises
``ImproperlyConfigured`` when that App is looked up (its logins fail; the other
Apps work). Every other value is used as given: a value of the wrong type or
out of range is reported by ``manage.py check`` (which ``runserver``,
``migrate`` and the other management commands run first) but not refused at run
time, so a deliberately unusual value, such as a send window smaller than one
outgoing frame, behaves as written.
"""

from __future__ import annotations

from appws.conf.defaults import DEFAULTS
from appws.conf.settings import AppwsSettings, get_settings
from appws.conf.validation import Problem, problems

__all__ = [
    "DEFAULTS",
    "AppwsSettings",
    "Problem",
    "get_settings",
    "problems",
]

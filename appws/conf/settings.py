"""The ``APPWS`` setting as one typed object, built once and again only when it changes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from functools import lru_cache
from os import PathLike
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed

from appws.conf.defaults import DEFAULTS
from appws.conf.validation import fatal_problem


@dataclass(frozen=True)
class AppwsSettings:
    """``APPWS`` merged over :data:`~appws.conf.DEFAULTS`: one attribute per key, lowercase.

    The values are the configured ones, as given (``manage.py check`` reports
    those of the wrong type or out of range); what each key means is written
    beside its default in ``appws/conf/defaults.py``.
    """

    apps: Mapping[str, Any]
    domain: str | None
    build: str | None
    app_dirs: Sequence[str | PathLike[str]]
    frame_ancestors: Sequence[str] | None
    max_message_bytes: int
    max_login_message_bytes: int
    max_login_containers: int
    login_bytes_per_second: float
    max_outgoing_bytes: int
    max_indication_bytes: int
    send_window_seconds: float
    send_window_bytes: int
    pbx_send_window_bytes: int
    max_depth: int
    max_src_length: int
    max_subscriptions: int
    max_badge_calls: int
    rate_limit: float
    rate_burst: int
    pbx_rate_limit: float | None
    max_queued_messages: int
    peer_request_timeout: float
    max_peer_requests: int
    peer_subscription_queue: int
    login_timeout: float
    max_messages_before_login: int
    allowed_origins: Sequence[str]
    keepalive_echo: bool
    group_prefix: str
    group_refresh_seconds: float
    app_cache_seconds: float
    pbx_cache_seconds: float
    track_sessions: bool
    heartbeat_seconds: float
    shutdown_timeout: float
    map_users: bool
    require_user_access: bool
    require_user_permissions: bool
    login_failure_limit: int
    login_failure_window: float
    pbx_users_sweep_limit: float
    pbx_users_map: bool
    pbx_users_map_create: bool
    pbx_users_map_active: bool
    pbx_users_map_existing: bool
    pbx_users_map_staff: bool

    @classmethod
    def from_setting(cls, configured: object) -> AppwsSettings:
        """Build from the raw ``APPWS`` value (None or empty: every default).

        Raises ``ImproperlyConfigured`` when it is not a dict or has unknown keys.
        """
        if not configured:
            configured = {}
        problem = fatal_problem(configured)
        if problem is not None:
            raise ImproperlyConfigured(problem.message)
        assert isinstance(configured, Mapping)  # fatal_problem said so
        merged = {**DEFAULTS, **configured}
        return cls(**{key.lower(): value for key, value in merged.items()})

    @property
    def login_frame_limit(self) -> int:
        """Largest text frame accepted before login: ``MAX_LOGIN_MESSAGE_BYTES``, capped."""
        return min(self.max_login_message_bytes, self.max_message_bytes)

    @property
    def login_budget_burst(self) -> int:
        """The burst of the bytes-per-second budget before login: four largest frames."""
        return 4 * self.login_frame_limit

    @property
    def login_slot_timeout(self) -> float:
        """Seconds a login waits for a throttle slot: ``LOGIN_TIMEOUT``, else the window."""
        return self.login_timeout or self.login_failure_window

    def as_dict(self) -> dict[str, Any]:
        """The settings as the ``APPWS`` dict would spell them, every key present."""
        return {key: getattr(self, key.lower()) for key in DEFAULTS}


# DEFAULTS holds the defaults and the keys; the class holds the types. Keep them one list.
if [f.name for f in fields(AppwsSettings)] != [key.lower() for key in DEFAULTS]:
    raise ImportError("AppwsSettings and DEFAULTS list different keys")  # pragma: no cover


@lru_cache(maxsize=1)
def get_settings() -> AppwsSettings:
    """The current :class:`AppwsSettings`, built on first use and after ``APPWS`` changes."""
    return AppwsSettings.from_setting(getattr(settings, "APPWS", None))


def _forget_settings(*, setting: str, **kwargs: Any) -> None:
    # override_settings, pytest-django's `settings` fixture, and anything else that
    # changes settings at run time announce it with this signal.
    if setting == "APPWS":
        get_settings.cache_clear()


setting_changed.connect(_forget_settings, dispatch_uid="appws.conf.settings")

"""Production settings of a site serving App Services, read from the environment.

Copy this file into your project package next to ``settings.py`` (as
``production.py``) and set ``DJANGO_SETTINGS_MODULE=myproject.production``.
Everything it does not set comes from your ``settings.py``. See docs/deploy.md.

Environment (``/etc/appws/appws.env`` under systemd):

- ``DJANGO_SECRET_KEY`` (required): a long random string.
- ``DJANGO_ALLOWED_HOSTS`` (required): host names, comma-separated.
- ``DJANGO_CSRF_TRUSTED_ORIGINS``: further origins that may POST (``https://other.example.com``).
- ``DATABASE_URL``: ``postgres://user:password@host:5432/name``, ``mysql://…`` or
  ``sqlite:////absolute/path/db.sqlite3``; unset: the database of ``settings.py``.
- ``REDIS_URL``: ``redis://127.0.0.1:6379/0`` (``rediss://`` for TLS); shared by every
  server process as channel layer and cache. Unset: ``settings.py``'s layer and cache,
  which is right for exactly one process.
- ``APPWS_REDIS_PREFIX``: key prefix of this site in Redis (sites sharing one Redis
  need different prefixes); default ``appws``.
- ``DJANGO_STATIC_ROOT``: where ``collectstatic`` puts the files nginx serves.
"""

import os
from typing import Any
from urllib.parse import unquote, urlsplit

from .settings import *  # noqa: F403


def env_list(name: str) -> list[str]:
    """The comma-separated environment variable ``name`` as a list (empty items dropped)."""
    return [item.strip() for item in os.environ.get(name, "").split(",") if item.strip()]


def database_from_url(url: str) -> dict[str, Any]:
    """A ``DATABASES`` entry from a database URL (dj-database-url does more, if you need it)."""
    parts = urlsplit(url)
    if parts.scheme == "sqlite":
        return {"ENGINE": "django.db.backends.sqlite3", "NAME": unquote(parts.path[1:])}
    engines = {
        "postgres": "django.db.backends.postgresql",
        "postgresql": "django.db.backends.postgresql",
        "mysql": "django.db.backends.mysql",
    }
    if parts.scheme not in engines:
        raise ValueError(f"DATABASE_URL: unsupported scheme {parts.scheme!r}")
    return {
        "ENGINE": engines[parts.scheme],
        "NAME": unquote(parts.path.lstrip("/")),
        "USER": unquote(parts.username or ""),
        "PASSWORD": unquote(parts.password or ""),
        "HOST": parts.hostname or "",
        "PORT": str(parts.port or ""),
    }


SECRET_KEY = os.environ["DJANGO_SECRET_KEY"]
DEBUG = False
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS")

# TLS ends at nginx, which sets X-Forwarded-Proto (and overwrites any the client sent).
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS")

if os.environ.get("DATABASE_URL"):
    DATABASES = {"default": database_from_url(os.environ["DATABASE_URL"])}

STATIC_ROOT = os.environ.get("DJANGO_STATIC_ROOT", "/srv/appws/static")

REDIS_URL = os.environ.get("REDIS_URL")
REDIS_PREFIX = os.environ.get("APPWS_REDIS_PREFIX", "appws")
if REDIS_URL:
    # Every server process sees every other's indications, disconnects and App changes.
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {
                # redis-py refuses the 101st pooled connection by default, and since
                # redis-py 8 gives up a read after 5 s, as long as channels_redis's
                # blocking receive waits (appws.W010): give reads longer.
                "hosts": [{"address": REDIS_URL, "max_connections": 1000, "socket_timeout": 15}],
                "prefix": REDIS_PREFIX,
                # Messages queued per connection before further indications are
                # dropped for it (default 100): room for bursts of notify().
                "capacity": 1000,
                # Group memberships (subscriptions) expire after this unless
                # renewed; appws renews them every APPWS GROUP_REFRESH_SECONDS.
                "group_expiry": 86400,
            },
        }
    }
    # One cache for all processes: the failed-login limit and cached App rows.
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": f"{REDIS_PREFIX}-cache",
        }
    }

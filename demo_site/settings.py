"""Settings of the appws demo site: one process, SQLite, in-memory channel layer."""

import os
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

BASE_DIR = Path(__file__).resolve().parent.parent

# The demo's fallback key is public: set DJANGO_SECRET_KEY anywhere that matters.
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "appws-demo-insecure-key-change-me")
DEBUG = os.environ.get("DJANGO_DEBUG", "1") == "1"
ALLOWED_HOSTS = os.environ.get("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost,[::1]").split(",")

INSTALLED_APPS = [
    # daphne first: it replaces runserver with one that serves WebSockets.
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "appws",
    "demo_site",
    "demo_site.notes",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "demo_site.urls"
ASGI_APPLICATION = "demo_site.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]


def demo_database(value: str) -> dict[str, Any]:
    """``APPWS_DEMO_DB``: a SQLite file's path, or ``postgresql://user:password@host:port/name``."""
    parts = urlsplit(value)
    if parts.scheme in ("postgres", "postgresql"):
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": unquote(parts.path.lstrip("/")),
            "USER": unquote(parts.username or ""),
            "PASSWORD": unquote(parts.password or ""),
            "HOST": parts.hostname or "",
            "PORT": str(parts.port or ""),
        }
    if "://" in value:
        raise ValueError(
            f"APPWS_DEMO_DB: {parts.scheme!r} URLs are not supported: give a SQLite file's "
            "path or a postgresql://user@host:port/name URL"
        )
    return {"ENGINE": "django.db.backends.sqlite3", "NAME": value}


DATABASES: dict[str, Any] = {
    "default": demo_database(os.environ.get("APPWS_DEMO_DB", str(BASE_DIR / "db.sqlite3")))
}

# One process: the in-memory layer. Several processes: channels_redis (docs/deploy.md).
CHANNEL_LAYERS = {"default": {"BACKEND": "appws.layers.InMemoryChannelLayer"}}

APPWS: dict[str, Any] = {
    "APPS": {
        "echo": {"password": os.environ.get("APPWS_ECHO_PASSWORD", "echo")},
    },
    # The notes Apps' pages and assets, served under /apps/<build>/.
    "APP_DIRS": [BASE_DIR / "demo_site" / "notes" / "app"],
    # The notes service copies each connected PBX's users (replicate_users) and gives each
    # a Django user: username = the PBX user's name (h323), no password (they come through
    # the PBX), created active. Opening Notes through the PBX (a user login, sip = h323)
    # then needs the notes App's access permission, which demo_site/notes/pbx_users.py
    # grants while the PBX lists "notes" in the user's Apps (its `apps` column: how a PBX
    # administrator grants Apps) and takes away when it no longer does. Staff members and
    # superusers are never linked or changed; a user the PBX deletes is deactivated.
    # MAP_USERS (a login's sip names its Django user) is what lets NotesService.get_user
    # check that permission.
    "MAP_USERS": True,
    "PBX_USERS_MAP": True,
    "PBX_USERS_MAP_CREATE": True,
    "PBX_USERS_MAP_ACTIVE": True,
}

LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/"

STATIC_URL = "static/"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True
TIME_ZONE = "UTC"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    # Not propagated: daphne gives the root logger a handler of its own, and every
    # line would be printed twice.
    "loggers": {"appws": {"handlers": ["console"], "level": "INFO", "propagate": False}},
}

"""Test settings: the demo site plus the test services' Apps."""

import os
import tempfile

from demo_site.settings import *  # noqa: F403
from tests.suite_db import ON_POSTGRES, postgres_database

# A file, not ":memory:": in-memory SQLite connections are never closed, which
# breaks Channels' closing of old connections between tests.
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.path.join(tempfile.gettempdir(), "appws-tests.sqlite3"),
        "TEST": {
            "NAME": os.path.join(tempfile.gettempdir(), f"appws-test-{os.getpid()}.sqlite3"),
        },
    }
}

if ON_POSTGRES:  # APPWS_TEST_DB=postgres (docs/testing.md)
    DATABASES = {"default": postgres_database()}

APPWS = {
    "APPS": {
        "echo": {"password": "echo"},
        "notes": {"password": "notes-secret", "domain": "notes.example.com"},
        "notes-admin": {
            "password": "admin-secret",
            "permissions": ["auth.delete_user"],
            # As a PBX's manager would: verify the passwords of App objects.
            "check_logins": ["notes", "notes-admin"],
        },
        "pbxapp": {"password": "pwd"},
    },
    # Tests that need these turn them on; the others run without a database.
    "TRACK_SESSIONS": False,
    "MAP_USERS": False,
}

LOGGING = {"version": 1, "disable_existing_loggers": False}
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

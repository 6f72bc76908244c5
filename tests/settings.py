"""Test settings: the demo site plus the test services' Apps."""

from demo_site.settings import *  # noqa: F403

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": ":memory:",
    }
}

APPWS = {
    "APPS": {
        "echo": {"password": "echo"},
        "notes": {"password": "notes-secret", "domain": "notes.example.com"},
        "notes-admin": {
            "password": "admin-secret",
            "permissions": ["auth.delete_user"],
        },
        "pbxapp": {"password": "pwd"},
    },
}

LOGGING = {"version": 1, "disable_existing_loggers": False}
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

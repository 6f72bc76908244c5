"""The demo's settings, plus what the multi-process tests set from the environment."""

import os

from demo_site.settings import *  # noqa: F403
from demo_site.settings import APPWS

APPWS = {
    **APPWS,
    "APPS": {
        **APPWS["APPS"],
        "topics": {"password": "topics"},
        "pbxtest": {"password": "pbxtest"},
        "pbxpeer": {"password": "pbxpeer"},
        # tests/e2e/test_pbx_services.py: one service logs in to the other through the PBX.
        "svcuser": {"password": "svcuser"},
        "svcother": {"password": "svcother"},
        "pbxusers": {"password": "pbxusers"},
    },
    "HEARTBEAT_SECONDS": float(os.environ.get("APPWS_HEARTBEAT_SECONDS", "10")),
    "PBX_CACHE_SECONDS": float(os.environ.get("APPWS_PBX_CACHE_SECONDS", "2")),
    # The demo maps PBX users to Django users; the test services' replication tests do not.
    "PBX_USERS_MAP": False,
    "PBX_USERS_MAP_CREATE": False,
    "PBX_USERS_MAP_ACTIVE": False,
}
if os.environ.get("APPWS_NOTES_PASSWORD"):  # the demo's notes App without demo_setup
    APPWS["APPS"]["notes"] = {"password": os.environ["APPWS_NOTES_PASSWORD"]}
if os.environ.get("APPWS_LOGIN_FAILURE_LIMIT"):
    APPWS["LOGIN_FAILURE_LIMIT"] = int(os.environ["APPWS_LOGIN_FAILURE_LIMIT"])
ROOT_URLCONF = "tests.e2e.urls"


if os.environ.get("APPWS_CACHE_URL"):  # one cache shared by the processes
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": os.environ["APPWS_CACHE_URL"],
            "KEY_PREFIX": os.environ.get("APPWS_REDIS_PREFIX", ""),
        }
    }

if os.environ.get("APPWS_REDIS_URL"):
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {
                # Longer than channels_redis's 5 s blocking receive (appws.W010).
                "hosts": [{"address": os.environ["APPWS_REDIS_URL"], "socket_timeout": 15}],
                "prefix": os.environ.get("APPWS_REDIS_PREFIX", "asgi"),
                "capacity": int(os.environ.get("APPWS_REDIS_CAPACITY", "20")),
            },
        }
    }

"""The demo's settings, plus what the multi-process tests set from the environment."""

import os

from demo_site.settings import *  # noqa: F403
from demo_site.settings import APPWS

APPWS = {
    **APPWS,
    "APPS": {**APPWS["APPS"], "topics": {"password": "topics"}},
    "HEARTBEAT_SECONDS": float(os.environ.get("APPWS_HEARTBEAT_SECONDS", "10")),
}
ROOT_URLCONF = "tests.e2e.urls"

if os.environ.get("APPWS_REDIS_URL"):
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {
                "hosts": [os.environ["APPWS_REDIS_URL"]],
                "prefix": os.environ.get("APPWS_REDIS_PREFIX", "asgi"),
                "capacity": int(os.environ.get("APPWS_REDIS_CAPACITY", "20")),
            },
        }
    }

"""The demo's settings, tuned for measuring: what the servers of a bench run load.

Environment:

- ``BENCH_TRACK=1``: ``TRACK_SESSIONS`` and ``MAP_USERS`` on (appws's defaults: a
  LiveSession row and a user lookup per login); otherwise both off, so that the pure
  protocol is measured.
- ``BENCH_DB_URL``: a ``postgresql://user@host:port/name`` URL (``--db postgres``);
  otherwise ``BENCH_DB``: the SQLite file. The harness makes and migrates either
  (``bench/database.py``).
- ``BENCH_STORM=1`` (the login storm): the failed-login throttle as appws ships it, and
  the bench App from the App table (``manage.py appws_app add``), not from the settings.
- ``BENCH_LOGIN_TIMEOUT``: ``LOGIN_TIMEOUT`` in seconds, instead of appws's default.
- ``BENCH_REDIS_URL`` / ``BENCH_REDIS_PREFIX``: a Redis channel layer instead of the
  in-memory one.
"""

import os

from bench.constants import BENCH_APP, BENCH_PASSWORD, BENCH_USERS_APP
from demo_site.settings import *  # noqa: F403
from demo_site.settings import APPWS, DATABASES, demo_database

TRACK = os.environ.get("BENCH_TRACK") == "1"

DEBUG = False
ROOT_URLCONF = "demo_site.urls"
ASGI_APPLICATION = "bench.asgi.application"
if os.environ.get("BENCH_DB_URL"):
    # Django's connection pool, as docs/sessions.md advises for PostgreSQL under ASGI
    # (persistent connections are not for ASGI); CONN_MAX_AGE stays 0.
    DATABASES = {
        "default": {**demo_database(os.environ["BENCH_DB_URL"]), "OPTIONS": {"pool": True}}
    }
else:
    DATABASES = {
        "default": {**DATABASES["default"], "NAME": os.environ.get("BENCH_DB", "bench.sqlite3")}
    }
APPWS = {
    **APPWS,
    "APPS": {
        **APPWS["APPS"],
        BENCH_APP: {"password": BENCH_PASSWORD},
        BENCH_USERS_APP: {"password": BENCH_PASSWORD},
    },
    "TRACK_SESSIONS": TRACK,
    "MAP_USERS": TRACK,
    # The per-session rate limit (50 messages/s by default) would cap every echo
    # workload at 50 messages/s: off here, its bookkeeping is still measured.
    "RATE_LIMIT": 1e9,
    "RATE_BURST": 10**9,
    # The attack workload's clients all come from 127.0.0.1: refusing their logins
    # after ten failures would measure the throttle instead of what a login costs.
    "LOGIN_FAILURE_LIMIT": 10**9,
    # The replication workload measures the copy alone, as its baseline script does:
    # not the demo's Django users made for each PBX user.
    "PBX_USERS_MAP": False,
    "PBX_USERS_MAP_CREATE": False,
    "PBX_USERS_MAP_ACTIVE": False,
}

if os.environ.get("BENCH_STORM") == "1":
    del APPWS["LOGIN_FAILURE_LIMIT"]
    del APPWS["APPS"][BENCH_APP]
if os.environ.get("BENCH_LOGIN_TIMEOUT"):  # what a slower machine would make of a storm
    APPWS["LOGIN_TIMEOUT"] = float(os.environ["BENCH_LOGIN_TIMEOUT"])

if os.environ.get("BENCH_REDIS_URL"):
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {
                # redis-py's pool refuses a 101st connection at once (MaxConnectionsError)
                # instead of waiting: 100 sessions subscribing together exhaust it.
                # socket_timeout: longer than channels_redis's 5 s blocking receive (W010).
                "hosts": [
                    {
                        "address": os.environ["BENCH_REDIS_URL"],
                        "max_connections": 1000,
                        "socket_timeout": 15,
                    }
                ],
                "prefix": os.environ.get("BENCH_REDIS_PREFIX", "bench"),
            },
        }
    }

# A log line per login would measure the pipe to the harness, not appws.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"appws": {"handlers": ["console"], "level": "WARNING"}},
}

"""The demo's settings, with the timings of the multi-process tests from the environment."""

import os

from demo_site.settings import *  # noqa: F403
from demo_site.settings import APPWS

APPWS = {**APPWS, "HEARTBEAT_SECONDS": float(os.environ.get("APPWS_HEARTBEAT_SECONDS", "10"))}

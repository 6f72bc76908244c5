"""Helpers for testing App Services in your own project's tests (docs/testing.md).

``AppwsCommunicator`` logs in through Channels' communicator, in the test's own
process; ``DaphneProcess`` (or ``UvicornProcess``), ``RedisServer`` and
``PostgresServer`` run a real server, a real Redis and a real PostgreSQL in processes of
their own, for end-to-end tests; ``FakePbx`` connects to a service as a PBX does and
serves the PBX's APIs from memory.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from appws._lazy import lazy_exports

if TYPE_CHECKING:
    from appws.testing.communicator import AppwsCommunicator
    from appws.testing.daphne import DaphneProcess
    from appws.testing.fakepbx import FakePbx
    from appws.testing.postgres import PostgresServer, find_postgres_bin
    from appws.testing.processes import free_port, terminate, wait_for_port
    from appws.testing.redis import RedisServer, find_redis_server
    from appws.testing.uvicorn import UvicornProcess

__all__ = [
    "AppwsCommunicator",
    "DaphneProcess",
    "FakePbx",
    "PostgresServer",
    "RedisServer",
    "UvicornProcess",
    "find_postgres_bin",
    "find_redis_server",
    "free_port",
    "terminate",
    "wait_for_port",
]

# Loaded on first use: the communicator imports Channels' test machinery (and with
# it Django's), which scripts that only start processes have no need of.
_LAZY = {
    "AppwsCommunicator": "appws.testing.communicator",
    "DaphneProcess": "appws.testing.daphne",
    "FakePbx": "appws.testing.fakepbx",
    "PostgresServer": "appws.testing.postgres",
    "RedisServer": "appws.testing.redis",
    "UvicornProcess": "appws.testing.uvicorn",
    "find_postgres_bin": "appws.testing.postgres",
    "find_redis_server": "appws.testing.redis",
    "free_port": "appws.testing.processes",
    "terminate": "appws.testing.processes",
    "wait_for_port": "appws.testing.processes",
}


__getattr__, __dir__ = lazy_exports(__name__, _LAZY, __all__)

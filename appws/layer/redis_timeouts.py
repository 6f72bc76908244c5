"""Whether the Redis channel layer's connections give up reads its receive blocks on.

channels_redis receives with a blocking ``BZPOPMIN`` of ``brpop_timeout`` seconds (5).
redis-py 8 gives every read a ``socket_timeout`` of 5 s by default (it had none): an
idle channel's receive then fails with ``TimeoutError`` every 5 s instead of returning
nothing, and a message Redis pops just as the client gives up is lost. A host whose
``socket_timeout`` is longer than the block, or None, is safe.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from importlib import import_module
from typing import Any
from urllib.parse import parse_qs, urlsplit

__all__ = ["REDIS_LAYER", "SAFE_SOCKET_TIMEOUT", "default_read_timeout", "short_read_timeouts"]

REDIS_LAYER = "channels_redis.core.RedisChannelLayer"
#: What the docs suggest: longer than the block, short enough to notice a dead server.
SAFE_SOCKET_TIMEOUT = 15


def default_read_timeout() -> float | None:
    """redis-py's default ``socket_timeout`` (None before 8.0, 5 s since)."""
    from redis.asyncio import Connection

    for kind in Connection.__mro__:  # the keyword is the base class's
        parameter = inspect.signature(vars(kind).get("__init__", object.__init__)).parameters.get(
            "socket_timeout"
        )
        if parameter is not None:
            default = parameter.default
            return None if default is None else float(default)
    return None


def _timeout_in_url(url: str) -> tuple[bool, float | None]:
    values = parse_qs(urlsplit(url).query).get("socket_timeout")
    if not values:
        return False, None
    try:
        return True, float(values[-1])
    except ValueError:
        return True, None  # redis-py refuses it itself, at the first connection


def _read_timeout(host: object, default: float | None) -> float | None:
    if isinstance(host, str):
        found, value = _timeout_in_url(host)
        return value if found else default
    if isinstance(host, Mapping):
        if "socket_timeout" in host:
            value = host["socket_timeout"]
            try:
                return None if value is None else float(value)
            except (TypeError, ValueError):
                return None  # redis-py refuses it itself, at the first connection
        address = host.get("address")
        if isinstance(address, str):
            found, value = _timeout_in_url(address)
            return value if found else default
    return default


def short_read_timeouts(layer: Mapping[str, Any]) -> tuple[list[float], float]:
    """For a ``CHANNEL_LAYERS`` entry: the read timeouts of its hosts that are no longer
    than its blocking receive, and that receive's seconds. Nothing for other layers."""
    if layer.get("BACKEND") != REDIS_LAYER:
        return [], 0.0
    try:
        core = import_module("channels_redis.core")  # untyped: no stubs to check against
    except ImportError:
        return [], 0.0
    block = float(core.RedisChannelLayer.brpop_timeout)
    config = layer.get("CONFIG") or {}
    hosts = config.get("hosts") or [("localhost", 6379)]
    default = default_read_timeout()
    timeouts = [_read_timeout(host, default) for host in hosts]
    return [value for value in timeouts if value is not None and value <= block], block

"""Recognise a channel layer that cannot be reached (Redis down or restarting)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


def is_layer_outage(error: BaseException) -> bool:
    """Whether ``error`` means the channel layer's server is unreachable right now."""
    if isinstance(error, (OSError, asyncio.TimeoutError, EOFError)):
        return True
    try:
        import redis.exceptions
    except ImportError:
        return False
    # redis-py's errors do not derive from the built-in ones. Its ConnectionError
    # covers a full connection pool (MaxConnectionsError) too.
    return isinstance(
        error,
        (
            redis.exceptions.ConnectionError,
            redis.exceptions.TimeoutError,
            redis.exceptions.BusyLoadingError,
            redis.exceptions.ReadOnlyError,
        ),
    )


def is_read_timeout(error: BaseException) -> bool:
    """Whether ``error`` is redis-py giving up a blocking read (``socket_timeout``, 5 s
    by default since redis-py 8, as long as channels_redis blocks in ``BZPOPMIN``):
    nothing arrived yet, and Redis answered everything else."""
    try:
        import redis.exceptions
    except ImportError:
        return False
    return isinstance(error, redis.exceptions.TimeoutError)


async def retry_once(operation: Callable[[], Awaitable[T]]) -> T:
    """Run ``operation``; after an outage error, run it once more.

    A restarted Redis leaves each pooled connection stale: its first use fails,
    the next one reconnects. Only a second failure means the layer is down.
    """
    try:
        return await operation()
    except Exception as error:
        if not is_layer_outage(error):
            raise
    await asyncio.sleep(0.05)  # let the pool drop the stale connection
    return await operation()

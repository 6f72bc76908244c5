"""How many sessions sit behind the full queues of a channels_redis group send.

channels_redis keeps one queue per process for the channels made by
``new_channel()`` (the part of the name up to ``!``), and reports a full queue
as one channel however many sessions of that process were in the group. This
reads the group and the queues back from Redis to count the sessions.
"""

from __future__ import annotations

from typing import Any

#: What a channels_redis.core.RedisChannelLayer has for this; other layers have no queues.
_NEEDED = (
    "_group_key",
    "non_local_name",
    "connection",
    "consistent_hash",
    "get_capacity",
    "prefix",
)


async def sessions_behind_full_queues(layer: Any, group: str, full: int) -> int | None:
    """The channels of ``group`` whose queue is at capacity (``full`` queues were).

    None when ``layer`` is no channels_redis layer. A queue that drained since
    the send still stands for at least one session.
    """
    if not all(hasattr(layer, name) for name in _NEEDED):
        return None
    connection = layer.connection(layer.consistent_hash(group))
    members = [name.decode() for name in await connection.zrange(layer._group_key(group), 0, -1)]
    by_queue: dict[str, list[str]] = {}
    for channel in members:
        by_queue.setdefault(layer.non_local_name(channel), []).append(channel)
    sessions = queues = 0
    for queue, channels in by_queue.items():
        holder = layer.connection(layer.consistent_hash(queue))
        queued = await holder.zcount(f"{layer.prefix}{queue}", "-inf", "+inf")
        if queued >= layer.get_capacity(channels[0]):
            sessions, queues = sessions + len(channels), queues + 1
    return sessions + max(0, full - queues)

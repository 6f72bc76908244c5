"""Take the channels of sessions that are gone out of their channel-layer groups.

A crashed process cannot leave its groups; the process that sweeps its rows does it
for it, from the group names the rows kept (:mod:`appws.live_sessions`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from appws.layer.outage import is_layer_outage

logger = logging.getLogger("appws.live")

#: ``(channel name, the groups it is in)`` of one swept session.
Membership = tuple[str, Iterable[str]]


async def leave_groups(layer: Any, memberships: Iterable[Membership]) -> int:
    """``group_discard`` every channel from each of its groups; return how many left.

    Never raises: an unreachable layer is logged and the rest is given up (each
    further try would wait for the same timeout); channels_redis then forgets the
    members after its ``group_expiry``.
    """
    pairs = [(group, channel) for channel, groups in memberships for group in groups]
    if layer is None or not pairs:
        return 0
    left = 0
    for index, (group, channel) in enumerate(pairs):
        try:
            await layer.group_discard(group, channel)
        except Exception as error:
            if is_layer_outage(error):
                logger.warning(
                    "channel layer unreachable (%s): %d group membership(s) of swept "
                    "sessions stay until the layer's group expiry",
                    type(error).__name__,
                    len(pairs) - index,
                )
                return left
            logger.exception("could not take swept channel %r out of group %r", channel, group)
            continue
        left += 1
    return left

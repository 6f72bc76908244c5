"""Count and report indications that were not delivered, whatever dropped them.

channels_redis skips a channel whose queue is at capacity during group_send
and only says so at INFO on its own logger, counting one per full queue (a
queue holds every channel of one process). appws turns that into a WARNING on
``appws.notify`` naming the topic and counting the sessions behind those queues
(:mod:`appws.layer.queues`), and counts the drops per process; the drops
appws makes itself (a copy over ``MAX_OUTGOING_BYTES``, the copies a session
closed as a slow reader misses) are reported and counted the same way.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any

from appws.layer.outage import is_layer_outage
from appws.layer.queues import sessions_behind_full_queues

logger = logging.getLogger("appws.notify")

_CHANNELS_REDIS_LOGGER = "channels_redis.core"
_OVER_CAPACITY = "%s of %s channels over capacity in group %s"

#: The topic being notified in this task, so the log record can name it.
current_topic: ContextVar[str | None] = ContextVar("appws_current_topic", default=None)

# While a notify collects them: (group, full queues, subscribed channels) of each report.
_full_queues: ContextVar[list[tuple[str, int, int]] | None] = ContextVar(
    "appws_full_queues", default=None
)

_dropped = 0


def dropped_indications() -> int:
    """How many indications this process could not deliver (per subscription or channel)."""
    return _dropped


_lost = 0


def lost_notifications() -> int:
    """How many notifications this process could not hand to the channel layer at all."""
    return _lost


def count_lost(topic: str, error: BaseException) -> None:
    """Count one notification lost to an unreachable channel layer, and say so."""
    global _lost
    _lost += 1
    logger.warning(
        "indication for topic %r lost: the channel layer is unreachable (%s); %d lost in "
        "this process so far",
        topic,
        type(error).__name__,
        _lost,
    )


def _count(dropped: int) -> int:
    global _dropped
    _dropped += dropped
    return _dropped


def count_dropped(topic: str, dropped: int, reason: str) -> None:
    """Count ``dropped`` undelivered copies of an indication for ``topic``, and say why."""
    logger.warning(
        "indication for topic %r not delivered to %d subscription(s) of one session (%r); "
        "%d dropped in this process so far",
        topic,
        dropped,
        reason,
        _count(dropped),
    )


def _warn_full(topic: str, skipped: int, subscribed: int) -> None:
    logger.warning(
        "indication for topic %r not delivered to %d of %d subscribed channel(s): "
        "their queues are full (channel layer capacity); %d dropped in this "
        "process so far",
        topic,
        skipped,
        subscribed,
        _count(skipped),
    )


@contextlib.contextmanager
def collecting_full_queues() -> Iterator[list[tuple[str, int, int]]]:
    """Within: channels_redis's full-queue reports are kept for :func:`report_full_queues`."""
    found: list[tuple[str, int, int]] = []
    token = _full_queues.set(found)
    try:
        yield found
    finally:
        _full_queues.reset(token)


async def report_full_queues(layer: Any, topic: str, found: list[tuple[str, int, int]]) -> None:
    """Count and warn of the sessions behind the full queues collected for ``topic``."""
    for group, full, subscribed in found:
        try:
            sessions = await sessions_behind_full_queues(layer, group, full)
        except Exception as error:
            if not is_layer_outage(error):
                raise
            sessions = None
        _warn_full(topic, full if sessions is None else sessions, subscribed)


class _CapacityWatch(logging.Filter):
    def __init__(self, threshold: int) -> None:
        super().__init__()
        self.threshold = threshold  # the level the logger had before appws lowered it

    def filter(self, record: logging.LogRecord) -> bool:
        if record.msg == _OVER_CAPACITY and isinstance(record.args, tuple):
            over, total, group = record.args
            skipped, subscribed = int(over), int(total)  # type: ignore[call-overload]
            found = _full_queues.get()
            if found is not None:  # the notify counts the sessions once the send is over
                found.append((str(group), skipped, subscribed))
            else:
                _warn_full(current_topic.get() or str(group), skipped, subscribed)
            return False
        return record.levelno >= self.threshold


def install() -> None:
    """Watch channels_redis's logger (once per process; called at app start-up)."""
    source_logger = logging.getLogger(_CHANNELS_REDIS_LOGGER)
    if any(isinstance(existing, _CapacityWatch) for existing in source_logger.filters):
        return
    threshold = source_logger.getEffectiveLevel()
    if threshold > logging.INFO:
        # The record is only made at INFO; keep everything else as quiet as before.
        source_logger.setLevel(logging.INFO)
    source_logger.addFilter(_CapacityWatch(threshold))

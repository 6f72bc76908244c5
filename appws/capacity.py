"""Make indications that channels_redis drops for full channels visible.

channels_redis skips a channel whose queue is at capacity during group_send
and only says so at INFO on its own logger. appws turns that into a WARNING on
``appws.notify`` naming the topic, and counts the drops per process.
"""

from __future__ import annotations

import logging
from contextvars import ContextVar

logger = logging.getLogger("appws.notify")

_CHANNELS_REDIS_LOGGER = "channels_redis.core"
_OVER_CAPACITY = "%s of %s channels over capacity in group %s"

#: The topic being notified in this task, so the log record can name it.
current_topic: ContextVar[str | None] = ContextVar("appws_current_topic", default=None)

_dropped = 0


def dropped_indications() -> int:
    """How many indications this process could not deliver to a full channel."""
    return _dropped


class _CapacityWatch(logging.Filter):
    def __init__(self, threshold: int) -> None:
        super().__init__()
        self.threshold = threshold  # the level the logger had before appws lowered it

    def filter(self, record: logging.LogRecord) -> bool:
        global _dropped
        if record.msg == _OVER_CAPACITY and isinstance(record.args, tuple):
            over, total, group = record.args
            skipped, subscribed = int(over), int(total)  # type: ignore[call-overload]
            _dropped += skipped
            logger.warning(
                "indication for topic %r not delivered to %d of %d subscribed channel(s): "
                "their queues are full (channel layer capacity); %d dropped in this "
                "process so far",
                current_topic.get() or group,
                skipped,
                subscribed,
                _dropped,
            )
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

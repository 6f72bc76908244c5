"""Encoding outgoing messages, with the values Django code hands over (docs/consumer.md).

A handler's reply is often built from ``.values()``: datetimes, dates, times, durations,
Decimals, UUIDs and lazy translation strings. They go out as Django's own
``DjangoJSONEncoder`` writes them, so a client reads what a Django JSON view would give it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder

from appws import protocol

__all__ = ["encode_frame", "encode_message", "indication_frame", "json_default"]

_DJANGO = DjangoJSONEncoder()


def json_default(value: Any) -> Any:
    """What ``DjangoJSONEncoder`` writes for ``value``; ``TypeError`` where it has nothing."""
    return _DJANGO.default(value)


#: :func:`appws.protocol.encode_frame` that also takes Django's values.
encode_frame: Callable[[Mapping[str, Any]], tuple[str, int]] = functools.partial(
    protocol.encode_frame, default=json_default
)


def encode_message(message: Mapping[str, Any]) -> str:
    """:func:`appws.protocol.encode_message` that also takes Django's values."""
    return protocol.encode_frame(message, json_default)[0]


def indication_frame(event: Mapping[str, Any]) -> tuple[str, int] | None:
    """The frame of an indication's message without ``src``, encoded once for all copies.

    :func:`appws.notify` encodes it once per notify (the event's ``frame`` and
    ``frame_bytes``); an event without them (another sender) is encoded here. None
    when the message holds a ``src`` itself: each copy's ``src`` replaces it where it is.
    """
    message = event["message"]
    if "src" in message:
        return None
    frame, size = event.get("frame"), event.get("frame_bytes")
    if isinstance(frame, str) and isinstance(size, int):
        return frame, size
    return encode_frame(message)

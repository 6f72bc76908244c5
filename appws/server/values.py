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

__all__ = ["encode_frame", "encode_message", "json_default"]

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

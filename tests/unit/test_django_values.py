"""Replies and indications holding Django's values go out as DjangoJSONEncoder writes them."""

from __future__ import annotations

import datetime
import json
import uuid
from decimal import Decimal
from typing import Any

import msgpack
import pytest
from django.core.serializers.json import DjangoJSONEncoder
from django.utils.translation import gettext_lazy

from appws import protocol
from appws.layer import notify
from appws.server import values

UTC = datetime.timezone.utc
VALUES = {
    "aware datetime": datetime.datetime(2026, 3, 4, 5, 6, 7, 891234, tzinfo=UTC),
    "offset datetime": datetime.datetime(
        2026, 3, 4, 5, 6, 7, tzinfo=datetime.timezone(datetime.timedelta(hours=2))
    ),
    "naive datetime": datetime.datetime(2026, 3, 4, 5, 6, 7, 1000),
    "date": datetime.date(2026, 3, 4),
    "time": datetime.time(5, 6, 7, 891234),
    "timedelta": datetime.timedelta(days=1, hours=2, microseconds=5),
    "Decimal": Decimal("12.50"),
    "large Decimal": Decimal("123456789012345678901234567890.000001"),
    "UUID": uuid.UUID("12345678-1234-5678-1234-567812345678"),
    "lazy string": gettext_lazy("Notes"),
}


def django(message: dict[str, Any]) -> str:
    return json.dumps(message, cls=DjangoJSONEncoder, separators=(",", ":"), ensure_ascii=False)


@pytest.mark.parametrize("value", VALUES.values(), ids=VALUES.keys())
def test_reply_value_is_encoded_as_django_encodes_it(value):
    message = {"mt": "ListResult", "rows": [{"v": value, "text": "grüße"}], "n": 1.5}
    text, size = values.encode_frame(message)
    assert text == django(message)
    assert size == len(text.encode("utf-8"))
    assert values.encode_message(message) == text


@pytest.mark.parametrize("value", VALUES.values(), ids=VALUES.keys())
def test_indication_value_is_sent_as_django_encodes_it(value):
    message = {"mt": "Changed", "rows": [{"v": value}]}
    sent = notify._event("t", message)["message"]
    assert sent == json.loads(django(message))
    # channels_redis packs events with msgpack, which has no type for these values.
    assert msgpack.unpackb(msgpack.packb(sent)) == sent


def test_plain_indication_is_left_as_it_is():
    message = {"mt": "Changed", "n": [1, 2.5, None, "x"]}
    assert notify._event("t", message)["message"] == message


def test_protocol_without_default_refuses_such_values():
    with pytest.raises(TypeError):
        protocol.encode_frame({"mt": "X", "v": VALUES["date"]})
    assert protocol.encode_frame({"mt": "X", "v": 1}, str) == ('{"mt":"X","v":1}', 16)
    assert protocol.encode_message({"mt": "X", "v": {1}}, sorted) == '{"mt":"X","v":[1]}'


def test_what_django_cannot_encode_still_raises():
    with pytest.raises(TypeError):
        values.encode_frame({"mt": "X", "v": {1, 2}})
    with pytest.raises(TypeError):
        notify._event("t", {"mt": "X", "v": object()})


def test_surrogates_are_escaped_on_the_slow_path_too():
    text, size = values.encode_frame({"mt": "X", "s": "\ud800", "d": VALUES["date"]})
    assert text == '{"mt":"X","s":"\\ud800","d":"2026-03-04"}'
    assert size == len(text)

"""One indication, many copies: encoded once per notify, each copy's frame as before.

A copy is the notify's encoded text with the subscription's ``src`` spliced in;
these tests hold every frame a subscriber gets to the text that encoding the whole
copy (``{**message, "src": src}``) gives.
"""

from __future__ import annotations

import datetime
import decimal
import json
import uuid
from typing import Any

import pytest
from channels.layers import get_channel_layer
from django.core.serializers.json import DjangoJSONEncoder

from appws import anotify
from appws.layer import events, notify
from appws.layer.topics import group_name
from appws.server import values

NOTES = ("notes", "notes-secret")

TRICKY: dict[str, dict[str, Any]] = {
    "plain": {"mt": "Changed", "n": 1},
    "non-ascii": {"mt": "Geändert", "text": "grüße 日本 😀", "ß": ["é"]},
    "surrogates": {"mt": "Changed", "lone": "a\ud800b", "pair": "\ud83d\ude00"},
    "src-like keys": {"mt": "Changed", "srcs": 1, "xsrc": 2, "source": 3, '"src"': 4},
    "nested src": {"mt": "Changed", "row": {"src": "inner", "list": [{"src": 1}]}},
    "escapes": {"mt": "Changed", "text": '"}\\,"src":"x"}', "tab": "\t\n"},
    "django values": {
        "mt": "Changed",
        "when": datetime.datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=datetime.timezone.utc),
        "price": decimal.Decimal("12.50"),
        "id": uuid.UUID("12345678-1234-5678-1234-567812345678"),
        "took": datetime.timedelta(seconds=90),
    },
}
SOURCES = ("a", "grüße", "x\ud800y", '"}', "", "😀")


async def subscribe(comm: Any, topic: str, src: str) -> None:
    reply = await comm.request({"mt": "Subscribe", "topic": topic, "src": src})
    assert reply["mt"] == "SubscribeResult" and "error" not in reply


def whole_copy(message: dict[str, Any], src: str) -> str:
    """The frame as each copy was encoded on its own, from what the notify made plain."""
    plain = notify._event("t", message)["message"]
    if "when" in message:  # the Django values are strings by now, as Django writes them
        assert plain == json.loads(DjangoJSONEncoder().encode(message))
    return values.encode_frame({**plain, "src": src})[0]


@pytest.mark.parametrize("name", TRICKY)
async def test_every_copy_is_the_frame_a_whole_encoding_gives(connect, name):
    message = TRICKY[name]
    comm = await connect(login=NOTES)
    for src in SOURCES:
        await subscribe(comm, "t", src)
    await anotify("t", message)
    got = sorted([await comm.receive_from() for _ in SOURCES])
    assert got == sorted(whole_copy(message, src) for src in SOURCES)
    assert await comm.receive_nothing()


async def test_a_fan_out_encodes_the_message_once(connect, monkeypatch):
    sessions = [await connect(login=NOTES) for _ in range(5)]
    for number, comm in enumerate(sessions):
        await subscribe(comm, "t", f"s{number}")
        await subscribe(comm, "t", f"t{number}")
    encoded: list[object] = []
    for module in (values, events):
        encode = module.encode_frame
        counted = lambda m, encode=encode: encoded.append(m) or encode(m)  # noqa: E731
        monkeypatch.setattr(module, "encode_frame", counted)
    await anotify("t", {"mt": "Changed", "n": 1})
    for number, comm in enumerate(sessions):
        got = sorted([await comm.receive_from(), await comm.receive_from()])
        assert got == [
            f'{{"mt":"Changed","n":1,"src":"s{number}"}}',
            f'{{"mt":"Changed","n":1,"src":"t{number}"}}',
        ]
    assert encoded == [{"mt": "Changed", "n": 1}]  # once for 10 copies in 5 sessions


async def test_an_event_without_its_frame_is_encoded_once_per_session(connect):
    # As another sender (a process of an older appws) sends it: only the message.
    comm = await connect(login=NOTES)
    for src in ("a", "b"):
        await subscribe(comm, "t", src)
    event = {"type": events.INDICATION, "topic": "t", "message": TRICKY["non-ascii"]}
    await get_channel_layer().group_send(group_name("t"), event)
    got = sorted([await comm.receive_from() for _ in range(2)])
    assert got == sorted(whole_copy(TRICKY["non-ascii"], src) for src in ("a", "b"))


async def test_a_message_holding_src_gets_each_copys_src_where_it_stands(connect):
    comm = await connect(login=NOTES)
    for src in ("a", "b"):
        await subscribe(comm, "t", src)
    message = {"mt": "Changed", "src": "own", "n": 1}  # not from appws.notify, which refuses it
    event = {**events.indication("t", message)}
    await get_channel_layer().group_send(group_name("t"), event)
    got = sorted([await comm.receive_from() for _ in range(2)])
    assert got == ['{"mt":"Changed","src":"a","n":1}', '{"mt":"Changed","src":"b","n":1}']


def test_the_event_carries_the_encoded_message_and_its_size():
    event = notify._event("t", TRICKY["non-ascii"])
    text, size = values.encode_frame(TRICKY["non-ascii"])
    assert (event["frame"], event["frame_bytes"]) == (text, size)
    assert size == len(text.encode("utf-8")) > len(text)


def test_a_message_json_cannot_carry_goes_without_a_frame():
    event = events.indication("t", {"mt": "Changed", "n": float("nan")})
    assert "frame" not in event and "frame_bytes" not in event

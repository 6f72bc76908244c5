"""What a session hands the server: the outgoing size limit and the send budgets."""

from __future__ import annotations

import json
from typing import Any

import pytest
from channels.layers import get_channel_layer
from channels.routing import URLRouter

from appws import AppWebsocketConsumer, anotify, mt
from appws.conf import DEFAULTS, AppwsSettings
from appws.layer import capacity
from appws.layer.topics import group_name
from appws.protocol import LoginKind
from appws.server.outgoing import SendWindow, send_window_bytes
from appws.server.routing import service_urls
from appws.server.session import Session
from appws.testing import AppwsCommunicator

NOTES = ("notes", "notes-secret")
SLOW_READER = 4013


class BigService(AppWebsocketConsumer):
    """Handlers that send more than they should."""

    apps = ("notes",)

    @mt("SendBig")
    async def send_big(self, msg: dict[str, Any]) -> dict[str, Any]:
        await self.send_json({"mt": "Big", "pad": "x" * int(msg["size"])})
        return {"after": True}

    @mt("ReplyTwice")
    async def reply_twice(self, msg: dict[str, Any]) -> dict[str, Any]:
        await self.reply(msg, {"pad": "x" * int(msg["size"])}, mt="Part")
        return {"done": True}


big_application = URLRouter(service_urls(BigService))


async def subscribe(comm: AppwsCommunicator, topic: str, src: str) -> None:
    reply = await comm.request({"mt": "Subscribe", "topic": topic, "src": src})
    assert reply == {"mt": "SubscribeResult", "src": src}


async def big_session() -> AppwsCommunicator:
    comm = AppwsCommunicator(big_application, "/apps/notes")
    assert (await comm.login(*NOTES))["ok"] is True
    return comm


async def test_a_handler_sending_too_much_gets_its_request_answered_too_large(settings):
    settings.APPWS = {**settings.APPWS, "MAX_OUTGOING_BYTES": 5000}
    comm = await big_session()
    try:
        reply = await comm.request({"mt": "SendBig", "size": 6000, "src": "1"})
        assert reply["error"] == "too-large"
        assert reply["src"] == "1"
        assert "ask for less" in reply["errorText"]
        await comm.send_json_to({"mt": "SendBig", "size": 10, "src": "2"})
        assert await comm.receive_json_from() == {"mt": "Big", "pad": "x" * 10}
        assert await comm.receive_json_from() == {"mt": "SendBigResult", "after": True, "src": "2"}
    finally:
        await comm.disconnect()


async def test_one_reply_over_the_limit_does_not_stop_the_handler(settings):
    settings.APPWS = {**settings.APPWS, "MAX_OUTGOING_BYTES": 5000}
    comm = await big_session()
    try:
        await comm.send_json_to({"mt": "ReplyTwice", "size": 6000, "src": "r"})
        first = await comm.receive_json_from()
        assert first["mt"] == "Part" and first["error"] == "too-large" and first["src"] == "r"
        assert await comm.receive_json_from() == {
            "mt": "ReplyTwiceResult",
            "done": True,
            "src": "r",
        }
    finally:
        await comm.disconnect()


async def test_a_reply_at_the_limit_is_sent(connect, settings):
    settings.APPWS = {**settings.APPWS, "MAX_OUTGOING_BYTES": 5000}
    comm = await connect("/apps/echo", login=("echo", "echo"))
    frame = {"mt": "EchoResult", "pad": "", "src": "e"}
    pad = "x" * (5000 - len(json.dumps(frame, separators=(",", ":"))))
    reply = await comm.request({"mt": "Echo", "pad": pad, "src": "e"})
    assert reply == {**frame, "pad": pad}
    reply = await comm.request({"mt": "Echo", "pad": pad + "x", "src": "e"})
    assert reply["error"] == "too-large"


async def test_an_oversized_indication_is_dropped_and_counted(connect, settings):
    settings.APPWS = {**settings.APPWS, "MAX_OUTGOING_BYTES": 5000}
    comm = await connect(login=NOTES)
    await subscribe(comm, "big", "s1")
    await subscribe(comm, "big", "s2")
    before = capacity.dropped_indications()
    await anotify("big", {"mt": "Big", "pad": "x" * 6000})
    await anotify("big", {"mt": "Small"})
    got = [await comm.receive_json_from() for _ in range(2)]
    assert sorted(m["src"] for m in got) == ["s1", "s2"]
    assert {m["mt"] for m in got} == {"Small"}
    assert capacity.dropped_indications() == before + 2


async def test_an_oversized_indication_is_encoded_once_not_per_subscription(
    connect, settings, monkeypatch
):
    from appws.server import values

    settings.APPWS = {**settings.APPWS, "MAX_OUTGOING_BYTES": 5000}
    comm = await connect(login=NOTES)
    for number in range(20):
        await subscribe(comm, "big", f"s{number}")
    from appws.layer import events

    encoded: list[int] = []
    for module in (values, events):
        encode = module.encode_frame
        counted = lambda m, encode=encode: encoded.append(1) or encode(m)  # noqa: E731
        monkeypatch.setattr(module, "encode_frame", counted)
    before = capacity.dropped_indications()
    await anotify("big", {"mt": "Big", "pad": "x" * 6000})
    await anotify("big", {"mt": "Small"})
    assert len([await comm.receive_json_from() for _ in range(20)]) == 20  # the small ones
    assert capacity.dropped_indications() == before + 20
    # Each once, by the notify: every copy is that text with its src spliced in.
    assert len(encoded) == 1 + 1


async def test_copies_past_the_bound_close_the_session_and_end_its_subscriptions(connect, settings):
    settings.APPWS = {
        **settings.APPWS,
        "MAX_OUTGOING_BYTES": 5000,
        "MAX_INDICATION_BYTES": 10_000,
    }
    comm = await connect(login=NOTES)
    for src in ("a", "b", "c"):
        await subscribe(comm, "t", src)
    layer = get_channel_layer()
    assert layer.groups.get(group_name("t", "appws"))
    before = capacity.dropped_indications()
    await anotify("t", {"mt": "Tock", "pad": "x" * 4000})
    assert (await comm.receive_json_from())["src"] == "a"
    assert (await comm.receive_json_from())["src"] == "b"
    closed = await comm.receive_output()
    assert closed == {"type": "websocket.close", "code": SLOW_READER, "reason": closed["reason"]}
    assert "slow reader" in closed["reason"]
    assert not layer.groups.get(group_name("t", "appws"))
    assert capacity.dropped_indications() == before + 1


async def test_the_send_window_closes_a_session_handed_too_much(connect, settings):
    settings.APPWS = {
        **settings.APPWS,
        "SEND_WINDOW_BYTES": 20_000,
        "SEND_WINDOW_SECONDS": 3600,
    }
    comm = await connect("/apps/echo", login=("echo", "echo"))
    for _ in range(4):
        assert "error" not in await comm.request({"mt": "Echo", "pad": "x" * 4000})
    await comm.send_json_to({"mt": "Echo", "pad": "x" * 4000})
    closed = await comm.receive_output()
    assert closed["type"] == "websocket.close" and closed["code"] == SLOW_READER
    await comm.send_json_to({"mt": "Echo"})
    assert await comm.receive_nothing()


def test_a_pbx_connection_has_its_own_window() -> None:
    options = AppwsSettings.from_setting(None)
    assert DEFAULTS["PBX_SEND_WINDOW_BYTES"] > DEFAULTS["SEND_WINDOW_BYTES"]
    for kind in LoginKind:
        session = Session("a", "", "", "", "", None, None, "", kind=kind)
        wanted = "PBX_SEND_WINDOW_BYTES" if kind is LoginKind.PBX else "SEND_WINDOW_BYTES"
        assert send_window_bytes(session, options) == DEFAULTS[wanted]
    assert send_window_bytes(None, options) == DEFAULTS["SEND_WINDOW_BYTES"]


def test_the_send_window_starts_again_after_its_seconds(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [100.0]
    monkeypatch.setattr("appws.server.outgoing.time.monotonic", lambda: now[0])
    window = SendWindow(10)
    assert window.take(600, 1000)
    assert not window.take(500, 1000)  # nothing counted for a refusal
    assert window.take(400, 1000)
    now[0] += 9.9
    assert not window.take(1, 1000)
    now[0] += 0.1
    assert window.take(1000, 1000)

"""Indications keep their place among a session's replies, however they are dispatched."""

from __future__ import annotations

import asyncio
from typing import Any

from channels.routing import URLRouter

from appws import AppWebsocketConsumer, anotify, mt
from appws.server.routing import service_urls
from appws.testing import AppwsCommunicator

NOTES = ("notes", "notes-secret")


class OrderService(AppWebsocketConsumer):
    apps = ("notes",)

    @mt("Subscribe")
    async def subscribe_topic(self, msg: dict[str, Any]) -> dict[str, Any]:
        await self.subscribe(msg["topic"], msg)
        return {}

    @mt("NotifyThenReply")
    async def notify_then_reply(self, msg: dict[str, Any]) -> dict[str, Any]:
        await anotify(msg["topic"], {"mt": "Changed"})
        for _ in range(10):  # the indication is on the session's channel by now
            await asyncio.sleep(0)
        return {"done": True}


application = URLRouter(service_urls(OrderService))


async def test_an_indication_during_a_handler_comes_after_its_reply():
    comm = AppwsCommunicator(application, "/apps/notes")
    try:
        assert (await comm.login(*NOTES))["ok"] is True
        await comm.request({"mt": "Subscribe", "topic": "t", "src": "s"})
        await comm.send_json_to({"mt": "NotifyThenReply", "topic": "t", "src": "r"})
        assert await comm.receive_json_from() == {
            "mt": "NotifyThenReplyResult",
            "done": True,
            "src": "r",
        }
        assert await comm.receive_json_from() == {"mt": "Changed", "src": "s"}
    finally:
        await comm.disconnect()


async def test_an_indication_for_an_idle_session_arrives_and_the_session_goes_on():
    comm = AppwsCommunicator(application, "/apps/notes")
    try:
        assert (await comm.login(*NOTES))["ok"] is True
        await comm.request({"mt": "Subscribe", "topic": "t", "src": "s"})
        await anotify("t", {"mt": "Changed"})
        assert await comm.receive_json_from() == {"mt": "Changed", "src": "s"}
        reply = await comm.request({"mt": "Subscribe", "topic": "u", "src": "x"})
        assert reply == {"mt": "SubscribeResult", "src": "x"}
    finally:
        await comm.disconnect()

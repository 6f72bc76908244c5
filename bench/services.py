"""The consumers a bench server runs: appws, and a bare Channels consumer doing the same work.

Every service answers the same messages with the same JSON:

- ``{"mt":"Echo",...,"src":s}`` -> ``{"mt":"EchoResult",...,"src":s}``
- ``{"mt":"Subscribe","topic":t,"src":s}``: later ``Notify`` messages on ``t`` arrive with ``s``
- ``{"mt":"Notify","topic":t,"message":{...}}``: send ``message`` to every subscriber of ``t``
- ``{"mt":"Stats"}`` -> tasks on the event loop, threads and RSS of the server process

The appws service also talks to a PBX (workload 9, a ``FakePbx``):

- ``{"mt":"AskPbx"}`` on the PBX's own session: ``self.request`` of ``PbxApi``
  ``GetNodeInfo`` on that session -> ``{"mt":"AskPbxResult","name":...,"ms":...}``
- ``{"mt":"AskPbxRemote"}`` on any session: the same through ``appws.pbx.arequest``
  (the channel layer, to whichever process holds the PBX)

``ms`` is the request as the handler timed it: the round trip without the client's hop.
"""

from __future__ import annotations

import hashlib
import time
from typing import Any

from channels.consumer import get_handler_name
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from appws import AppWebsocketConsumer, anotify, mt, pbx
from bench.constants import BENCH_APP, BENCH_USERS_APP
from bench.stats import process_stats

ENVELOPE = ("mt", "api", "src")


class BenchService(AppWebsocketConsumer):
    """appws: the demo's Echo plus topics and process statistics."""

    apps = ("bench",)

    @mt("Echo")
    async def echo(self, msg: dict[str, Any]) -> dict[str, Any]:
        return {key: value for key, value in msg.items() if key not in ENVELOPE}

    @mt("Subscribe")
    async def subscribe_topic(self, msg: dict[str, Any]) -> dict[str, Any]:
        await self.subscribe(msg["topic"], msg)
        return {}

    @mt("Notify")
    async def notify_topic(self, msg: dict[str, Any]) -> dict[str, Any]:
        await anotify(msg["topic"], msg["message"])
        return {}

    @mt("Stats")
    async def stats(self, msg: dict[str, Any]) -> dict[str, Any]:
        return process_stats(detail=bool(msg.get("detail")))

    @mt("AskPbx")
    async def ask_pbx(self, msg: dict[str, Any]) -> dict[str, Any]:
        start = time.perf_counter()
        reply = await self.request({"mt": "GetNodeInfo"}, api="PbxApi")
        return {"name": reply.get("name"), "ms": (time.perf_counter() - start) * 1000}

    @mt("AskPbxRemote")
    async def ask_pbx_remote(self, msg: dict[str, Any]) -> dict[str, Any]:
        start = time.perf_counter()
        reply = await pbx.arequest(BENCH_APP, {"mt": "GetNodeInfo"}, api="PbxApi")
        return {"name": reply.get("name"), "ms": (time.perf_counter() - start) * 1000}


class BenchUsersService(AppWebsocketConsumer):
    """appws: replicates its PBX's users into the database (workload 10), nothing else."""

    apps = (BENCH_USERS_APP,)
    replicate_users = True


def _group(topic: str) -> str:
    return "bare." + hashlib.sha256(topic.encode()).hexdigest()[:32]


class BareEcho(AsyncJsonWebsocketConsumer):  # type: ignore[misc]
    """A plain Channels consumer: no handshake, the same replies as :class:`BenchService`."""

    async def connect(self) -> None:
        self.topics: dict[str, str | None] = {}
        await self.accept()

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        mt = content.get("mt")
        if mt == "Echo":
            reply = {key: value for key, value in content.items() if key not in ENVELOPE}
        elif mt == "Subscribe":
            topic = content["topic"]
            await self.channel_layer.group_add(_group(topic), self.channel_name)
            self.topics[topic] = content.get("src")
            reply = {}
        elif mt == "Notify":
            event = {"type": "bench.tick", "topic": content["topic"], "message": content["message"]}
            await self.channel_layer.group_send(_group(content["topic"]), event)
            reply = {}
        elif mt == "Stats":
            reply = process_stats()
        else:
            reply = {"error": "unknown-mt"}
        message = {"mt": f"{mt}Result", **reply}
        if "src" in content:
            message["src"] = content["src"]
        await self.send_json(message)

    async def bench_tick(self, event: dict[str, Any]) -> None:
        src = self.topics.get(event["topic"])
        message = event["message"]
        await self.send_json(message if src is None else {**message, "src": src})

    async def disconnect(self, code: int) -> None:
        for topic in self.topics:
            await self.channel_layer.group_discard(_group(topic), self.channel_name)


class BareEchoNoCleanup(BareEcho):
    """:class:`BareEcho` without Channels' per-event database clean-up in a thread.

    Channels >= 4.2 runs ``aclose_old_connections()`` (a thread hop) before every
    event; this variant shows what that hop costs.
    """

    async def dispatch(self, message: dict[str, Any]) -> None:
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

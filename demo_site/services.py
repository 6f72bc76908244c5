"""The demo's App Service: Echo, plus a broadcast to show subscriptions."""

from __future__ import annotations

from typing import Any

from appws import AppWebsocketConsumer, anotify, mt

ENVELOPE = ("mt", "api", "src")


class EchoService(AppWebsocketConsumer):
    """Answers every message with its own content; broadcasts to subscribers."""

    apps = ("echo",)

    @mt("Echo")
    async def echo(self, msg: dict[str, Any]) -> dict[str, Any]:
        """Reply with every field of the request but the envelope."""
        return {key: value for key, value in msg.items() if key not in ENVELOPE}

    @mt("SubscribeEcho")
    async def subscribe_echo(self, msg: dict[str, Any]) -> dict[str, Any]:
        """Receive an EchoBroadcast indication (with this src) per Broadcast."""
        await self.subscribe("echo", msg)
        return {}

    @mt("UnsubscribeEcho")
    async def unsubscribe_echo(self, msg: dict[str, Any]) -> dict[str, Any]:
        """End the subscription made with this src."""
        return {"ended": await self.unsubscribe("echo", msg)}

    @mt("Broadcast")
    async def broadcast(self, msg: dict[str, Any]) -> dict[str, Any]:
        """Send text to every subscriber of every session, this one included."""
        assert self.session is not None
        await anotify(
            "echo", {"mt": "EchoBroadcast", "text": msg.get("text"), "from": self.session.sip}
        )
        return {}

"""A stand-in for the session holding a PBX's socket, as the channel layer sees it.

It registers through the PBX registry as a PBX session does, and answers each
``appws.pbx_request`` on its channel with what ``answer`` returns (a
``pbx_reply`` event, or None for no answer), recording every event it receives.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from datetime import datetime
from types import SimpleNamespace
from typing import Any

from channels.layers import get_channel_layer

from appws.layer import events
from appws.pbx.registry import registry
from appws.protocol import PbxIdentity, PbxInfo

Answer = Callable[[dict[str, Any]], dict[str, Any] | None]

ALL_APIS = ("PbxAdminApi", "PbxApi", "PbxSignal", "PbxTableUsers", "Services")


def echo_reply(event: dict[str, Any]) -> dict[str, Any]:
    """The PBX's result for the request: ``<mt>Result`` with the request's fields."""
    message = event["message"]
    reply = {**message, "api": event["api"], "mt": f"{message['mt']}Result"}
    return events.pbx_reply(event["id"], reply=reply)


class StandIn:
    def __init__(
        self,
        *,
        app: str = "pbxapp",
        pbx: str = "pbx-main",
        sip: str = "pbxapp-obj",
        domain: str = "example.com",
        apis: tuple[str, ...] = ALL_APIS,
        answer: Answer | None = echo_reply,
    ) -> None:
        self.app = app
        self.info = PbxInfo(
            identity=PbxIdentity(domain=domain, pbx=pbx, sip=sip),
            dns=f"{pbx}.{domain}",
            apis=frozenset(apis),
            version="13r3",
            build="1234",
        )
        self.answer = answer
        self.received: list[dict[str, Any]] = []
        self.conn: Any = None
        self._task: asyncio.Task[None] | None = None
        self._seen = asyncio.Event()
        self._read = 0

    @property
    def channel(self) -> str:
        return str(self.conn.channel_name)

    async def connect(self, *, serve: bool = True) -> StandIn:
        channel = await get_channel_layer().new_channel()
        self.conn = SimpleNamespace(
            channel_name=channel, session=SimpleNamespace(app=self.app), peer=None
        )
        await registry.pbx_connected(self.conn, self.info)
        if serve:
            self._task = asyncio.get_running_loop().create_task(self._serve())
        return self

    async def _serve(self) -> None:
        layer = get_channel_layer()
        while True:
            event = await layer.receive(self.channel)
            self.received.append(event)
            self._seen.set()
            if event["type"] == events.PBX_REQUEST and event["reply_to"] and self.answer:
                reply = self.answer(event)
                if reply is not None:
                    await layer.send(event["reply_to"], reply)

    async def next_event(self) -> dict[str, Any]:
        """The first received event not returned yet; waits for one (the test's timeout
        bounds it)."""
        while len(self.received) <= self._read:
            self._seen.clear()
            await self._seen.wait()
        self._read += 1
        return self.received[self._read - 1]

    async def stop_serving(self) -> None:
        """Read nothing more, its row left: a session whose process died."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def disconnect(self) -> None:
        await self.stop_serving()
        await registry.pbx_disconnected(self.conn, self.info)


def row_of_another_process(host: str, channel: str, seen: datetime) -> None:
    """A PbxConnection of App ``pbxapp``'s PBX held by process ``host``, last seen ``seen``."""
    from appws.models import PbxConnection, ServerProcess

    server = ServerProcess.objects.create(
        ident=f"{host}:2:y", hostname=host, pid=2, started=seen, last_seen=seen
    )
    PbxConnection.objects.create(
        app_name="pbxapp",
        domain="example.com",
        pbx="pbx-main",
        sip="pbxapp-obj",
        apis=["PbxApi"],
        channel_name=channel,
        server=server,
        connected_at=seen,
    )

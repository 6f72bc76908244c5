"""A service that talks to its PBX, and a tiny PBX on top of the communicator, for tests."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, ClassVar

from channels.routing import URLRouter

from appws import AppWebsocketConsumer, mt
from appws.exceptions import PeerRequestError
from appws.protocol import PbxInfo
from appws.server.routing import service_urls
from appws.testing import AppwsCommunicator

Script = Callable[["PeerService", PbxInfo], Awaitable[None]]


class PeerService(AppWebsocketConsumer):
    """Runs the test's ``script`` when its PBX connects; records what reaches handlers."""

    apps = ("pbxapp",)
    # The tests script every message the PBX gets: appws's own SubscribeServices would
    # come in between (tests/integration/test_pbx_services.py covers it).
    track_services = False
    script: ClassVar[Script | None] = None
    seen: ClassVar[list[Any]] = []
    disconnected: ClassVar[list[PbxInfo]] = []
    #: Set on every record(): what a test waits on instead of polling.
    recorded: ClassVar[asyncio.Event | None] = None

    @classmethod
    def record(cls, item: Any) -> None:
        cls.seen.append(item)
        if cls.recorded is not None:
            cls.recorded.set()

    @classmethod
    async def wait_seen(cls, count: int, timeout: float = 2) -> None:
        """Return once ``count`` items were recorded."""
        assert cls.recorded is not None
        while len(cls.seen) < count:
            cls.recorded.clear()
            await asyncio.wait_for(cls.recorded.wait(), timeout)

    async def pbx_connected(self, pbx: PbxInfo) -> None:
        if type(self).script is not None:
            await type(self).script(self, pbx)  # type: ignore[misc]

    async def pbx_disconnected(self, pbx: PbxInfo) -> None:
        type(self).disconnected.append(pbx)

    @mt("ReplicateNextResult", api="PbxTableUsers")
    async def row_sent_for(self, msg: dict[str, Any]) -> None:
        """A result the service asked for with send_peer, handled by type."""
        type(self).record(("next", msg.get("columns")))

    @mt("ReplicateAdd", api="PbxTableUsers")
    async def row_added(self, msg: dict[str, Any]) -> None:
        type(self).record(("add", msg["columns"]))

    @mt("ReplicateUpdate", api="PbxTableUsers")
    async def row_updated(self, msg: dict[str, Any]) -> None:
        # A handler awaiting its own request: the reply must overtake the handler queue.
        try:
            reply = await self.request(
                {"mt": "GetObject", "guid": msg["columns"]["guid"]}, api="PbxAdminApi"
            )
        except PeerRequestError as error:
            type(self).record(("failed", type(error).__name__))
            return
        type(self).record(("object", reply["cn"]))


pbx_application = URLRouter(service_urls(PeerService))

PBX_INFO = {
    "mt": "PbxInfo",
    "domain": "example.com",
    "pbx": "pbx-main",
    "pbxDns": "pbx.example.com",
    "version": "14r2",
    "build": "1400",
}


class Pbx:
    """The PBX's side of a PBX session, driven by a test."""

    def __init__(self, comm: AppwsCommunicator) -> None:
        self.comm = comm

    async def receive(self, timeout: float = 2) -> dict[str, Any]:
        message: dict[str, Any] = await self.comm.receive_json_from(timeout)
        return message

    async def send(self, message: dict[str, Any]) -> None:
        await self.comm.send_json_to(message)

    async def answer(self, request: dict[str, Any], **fields: Any) -> None:
        await self.send(
            {"api": request["api"], "mt": f"{request['mt']}Result", "src": request["src"], **fields}
        )

    async def close(self) -> None:
        await self.comm.disconnect()


async def pbx_login(
    apis: Iterable[str] = ("PbxApi", "PbxAdminApi", "PbxTableUsers", "Services"),
    *,
    info: bool = True,
) -> Pbx:
    """Log in as the App object ``pbx-obj`` of App ``pbxapp`` and send ``PbxInfo``."""
    comm = AppwsCommunicator(pbx_application, "/apps/pbxapp")
    result = await comm.login(
        "pbxapp", "pwd", domain="example.com", sip="pbx-obj", info={"appobj": "pbx-obj"}
    )
    assert result["ok"] is True, result
    if info:
        await comm.send_json_to({**PBX_INFO, "apis": list(apis)})
    return Pbx(comm)


class Results:
    """What a script hands the test, in order."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[Any] = asyncio.Queue()

    def put(self, item: Any) -> None:
        self.queue.put_nowait(item)

    async def get(self, timeout: float = 2) -> Any:
        return await asyncio.wait_for(self.queue.get(), timeout)

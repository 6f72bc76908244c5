"""The demo's ASGI application plus a service that subscribes to any topic."""

from typing import Any

from django.core.asgi import get_asgi_application

django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from appws import mt  # noqa: E402
from appws.server.routing import service_urls  # noqa: E402
from demo_site.notes.services import NotesService  # noqa: E402
from demo_site.services import EchoService  # noqa: E402
from tests.e2e import digests  # noqa: E402
from tests.e2e.pbx_service import PbxTestService, PbxUsersService  # noqa: E402

digests.install()


class TopicService(EchoService):
    """Echo, plus subscriptions to any topic the client names."""

    apps = ("topics",)

    @mt("Subscribe")
    async def subscribe_topic(self, msg: dict[str, Any]) -> dict[str, Any]:
        await self.subscribe(msg["topic"], msg)
        return {}

    @mt("Block")
    async def block(self, msg: dict[str, Any]) -> dict[str, Any]:
        """Block this process's event loop, so that nothing reads its channels: they fill up."""
        import time

        time.sleep(min(float(msg.get("seconds", 1)), 5))  # noqa: ASYNC251 (on purpose)
        return {}

    @mt("Stats")
    async def stats(self, msg: dict[str, Any]) -> dict[str, Any]:
        """Test-only: what this process holds now (asyncio tasks; in-memory layer state)."""
        import asyncio

        layer = self.channel_layer
        groups = getattr(layer, "groups", None)
        channels = getattr(layer, "channels", None)
        return {
            "tasks": len(asyncio.all_tasks()),
            "groups": None if groups is None else len(groups),
            "group_members": None if groups is None else sum(map(len, groups.values())),
            "channels": None if channels is None else len(channels),
        }

    @mt("Notify")
    async def notify_topic(self, msg: dict[str, Any]) -> dict[str, Any]:
        from appws import anotify

        await anotify(msg["topic"], msg["message"])
        return {}


class PbxPeerService(EchoService):
    """Calls its PBX when it connects, and again from a handler; reports over send_peer."""

    apps = ("pbxpeer",)

    async def pbx_connected(self, pbx: Any) -> None:
        import asyncio

        node = await self.request({"mt": "GetNodeInfo"}, api="PbxApi")
        users = await asyncio.gather(
            *(
                self.request({"mt": "GetObject", "h323": f"u{n}"}, api="PbxAdminApi")
                for n in range(20)
            )
        )
        report = {"mt": "Report", "node": node["name"], "users": [u["cn"] for u in users]}
        await self.send_peer(report, api="PbxApi")

    @mt("ReplicateUpdate", api="PbxTableUsers")
    async def updated(self, msg: dict[str, Any]) -> None:
        row = await self.request(
            {"mt": "GetObject", "guid": msg["columns"]["guid"]}, api="PbxAdminApi"
        )
        await self.send_peer({"mt": "Updated", "cn": row["cn"]}, api="PbxApi")


class ServiceUser(EchoService):
    """A service whose PBX lists other services (appws follows them: track_services)."""

    apps = ("svcuser",)


class OtherService(EchoService):
    """The service ServiceUser logs in to through the PBX: says who logged in."""

    apps = ("svcother",)

    @mt("Whoami")
    async def whoami(self, msg: dict[str, Any]) -> dict[str, Any]:
        assert self.session is not None
        return {"app": self.session.app, "sip": self.session.sip, "kind": self.session.kind.value}


application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": URLRouter(
            service_urls(
                EchoService,
                NotesService,
                TopicService,
                PbxTestService,
                PbxPeerService,
                ServiceUser,
                OtherService,
                PbxUsersService,
            )
        ),
    }
)

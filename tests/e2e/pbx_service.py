"""A service that uses the PBX's APIs the way App Services do, for the FakePbx's tests.

On ``PbxInfo`` it starts replicating users, registers on ``PbxSignal``, subscribes
to ``Services`` and asks ``GetNodeInfo`` and ``GetObject`` for its own App object.
It answers presence subscriptions with a badge count of 3. ``Relay`` (sent by the
test through the FakePbx) makes it send any message to the PBX; ``Whoami`` tells
how it sees the session. It sends with plain ``send_json``: the replies come back
to the ``…Result`` handlers below.
"""

from __future__ import annotations

from typing import Any

from appws import AppWebsocketConsumer, mt

BADGE = 3


class PbxTestService(AppWebsocketConsumer):
    apps = ("pbxtest",)
    # It drives Services itself, to test the FakePbx's side of it; appws's own following
    # of the services is tested with the services App (tests/e2e/test_pbx_services.py).
    track_services = False

    rows = 0

    async def receive_message(self, message: dict[str, Any], frame: str) -> None:
        await super().receive_message(message, frame)
        if message.get("mt") == "PbxInfo" and "api" not in message:
            await self._start()

    async def _start(self) -> None:
        assert self.session is not None
        columns = {name: {} for name in ("guid", "h323", "cn", "dn", "e164", "apps")}
        for message in (
            {
                "api": "PbxTableUsers",
                "mt": "ReplicateStart",
                "add": False,
                "del": False,
                "columns": columns,
                "pseudo": [""],
                "src": "r0",
            },
            {"api": "PbxSignal", "mt": "Register", "flags": "NO_MEDIA_CALL", "src": "s1"},
            {"api": "Services", "mt": "SubscribeServices", "src": "v1"},
            {"api": "PbxApi", "mt": "GetNodeInfo", "src": "n1"},
            {"api": "PbxAdminApi", "mt": "GetObject", "h323": self.session.sip, "src": "o1"},
        ):
            await self.send_json(message)

    async def _next_row(self) -> None:
        self.rows += 1
        await self.send_json(
            {"api": "PbxTableUsers", "mt": "ReplicateNext", "src": f"r{self.rows}"}
        )

    @mt("ReplicateStartResult", api="PbxTableUsers")
    async def replicate_started(self, msg: dict[str, Any]) -> None:
        await self._next_row()

    @mt("ReplicateNextResult", api="PbxTableUsers")
    async def replicated_row(self, msg: dict[str, Any]) -> None:
        if "columns" in msg:  # no columns: the initial copy is complete
            await self._next_row()

    @mt("ReplicateAdd", api="PbxTableUsers")
    @mt("ReplicateUpdate", api="PbxTableUsers")
    @mt("ReplicateDel", api="PbxTableUsers")
    async def replicated_change(self, msg: dict[str, Any]) -> None:
        return None

    @mt("Signaling", api="PbxSignal")
    async def signaling(self, msg: dict[str, Any]) -> None:
        sig = msg.get("sig") or {}
        if sig.get("type") != "setup":
            return
        call = msg["call"]
        await self.send_json(
            {"api": "PbxSignal", "mt": "Signaling", "call": call, "sig": {"type": "conn"}}
        )
        facility = {
            "type": "presence_notify",
            "status": "open",
            "note": f"#badge:{BADGE}",
            "contact": "app:",
        }
        await self.send_json(
            {
                "api": "PbxSignal",
                "mt": "Signaling",
                "call": call,
                "src": "badge",
                "sig": {"type": "facility", "fty": [facility]},
            }
        )

    @mt("RegisterResult", api="PbxSignal")
    @mt("SubscribeServicesResult", api="Services")
    @mt("ServicesInfo", api="Services")
    @mt("GetServiceLoginResult", api="Services")
    @mt("UnsubscribeServicesResult", api="Services")
    @mt("GetNodeInfoResult", api="PbxApi")
    @mt("GetObjectResult", api="PbxAdminApi")
    @mt("GetAppLoginResult", api="PbxAdminApi")
    async def result(self, msg: dict[str, Any]) -> None:
        return None

    @mt("Relay")
    async def relay(self, msg: dict[str, Any]) -> None:
        """Send ``message`` to the peer (the test drives the service through the FakePbx)."""
        await self.send_json(msg["message"])

    @mt("Whoami")
    async def whoami(self, msg: dict[str, Any]) -> dict[str, Any]:
        assert self.session is not None
        return {
            "kind": self.session.kind.value,
            "pbxInfo": self.session.pbx_info,
            "sip": self.session.sip,
            "domain": self.session.domain,
        }


class PbxUsersService(AppWebsocketConsumer):
    """Replicates its PBX's users into the database (appws.pbx.users), nothing else."""

    apps = ("pbxusers",)
    replicate_users = True

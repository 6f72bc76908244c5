"""connect_service(): a login to another App Service that the PBX issues, every time."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from websockets.asyncio.server import ServerConnection, serve

from appws import pbx
from appws.client import LoginRefused
from appws.client.login import APPLOGIN_FIELDS
from appws.layer import events
from appws.pbx import AmbiguousPbx
from appws.pbx.appservices.feature import _write
from appws.protocol import login_digest, verify_login
from tests.pbx_standin import StandIn

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "other-secret"  # the other service's: only the PBX (the stand-in) knows it


class OtherService:
    """A bare AppWebsocket server: hands out challenges, checks logins, answers Echo."""

    def __init__(self) -> None:
        self.logins: list[dict[str, Any]] = []
        self.challenges: list[str] = []
        self.drop_first = False
        self.logged_in = asyncio.Queue[None]()

    async def handle(self, ws: ServerConnection) -> None:
        async for text in ws:
            message = json.loads(text)
            if message["mt"] == "AppChallenge":
                self.challenges.append(f"{len(self.challenges) + 1:016d}")
                await ws.send(
                    json.dumps({"mt": "AppChallengeResult", "challenge": self.challenges[-1]})
                )
            elif message["mt"] == "AppLogin":
                self.logins.append(message)
                ok = verify_login(message, self.challenges[-1], PASSWORD)
                await ws.send(json.dumps({"mt": "AppLoginResult", "ok": ok}))
                self.logged_in.put_nowait(None)
                if self.drop_first and len(self.logins) == 1:
                    await ws.close(1011, "going away for a moment")
            elif message["mt"] == "Echo":
                await ws.send(
                    json.dumps(
                        {
                            "mt": "EchoResult",
                            "src": message.get("src"),
                            "sip": self.logins[-1]["sip"],
                        }
                    )
                )


@pytest.fixture
async def other() -> AsyncIterator[tuple[OtherService, str]]:
    service = OtherService()
    async with serve(service.handle, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        yield service, f"ws://127.0.0.1:{port}/apps/other"


def issuing(refuse: bool = False) -> Any:
    """A stand-in PBX's answer to GetServiceLogin: a login with the digest, key and salt."""

    def answer(event: dict[str, Any]) -> dict[str, Any]:
        message = event["message"]
        if refuse:
            reply = {
                "mt": "GetServiceLoginResult",
                "error": "unknown-service",
                "errorText": "not granted",
            }
            return events.pbx_reply(
                event["id"],
                reply=reply,
                error="peer-error",
                code="unknown-service",
                text="not granted",
            )
        login = {
            "app": "other",
            "domain": "example.com",
            "sip": "pbxapp-obj",
            "guid": "g" * 32,
            "dn": "PBX App",
            "pbxObj": "pbxapp-obj",
            "info": {"cn": "PBX App"},
        }
        login["digest"] = login_digest(login, message["challenge"], PASSWORD)
        reply = {
            "mt": "GetServiceLoginResult",
            "api": "Services",
            **login,
            "key": "k" * 64,
            "salt": "s" * 16,
        }
        return events.pbx_reply(event["id"], reply=reply)

    return answer


async def pbx_listing(url: str, **options: Any) -> StandIn:
    standin = await StandIn(**options).connect()
    entry = {"name": "other@example.com", "title": "Other", "url": url}
    await sync_to_async(_write)(standin.channel, [entry])
    return standin


def service_logins(standin: StandIn) -> list[dict[str, Any]]:
    return [e for e in standin.received if e["type"] == events.PBX_REQUEST]


async def test_the_pbx_issues_the_login_and_the_client_calls_the_service(other) -> None:
    service, url = other
    standin = await pbx_listing(url, answer=issuing())
    async with pbx.connect_service("pbxapp", "other@example.com") as client:
        assert (await client.request({"mt": "Echo"}))["sip"] == "pbxapp-obj"
    [asked] = service_logins(standin)
    assert (asked["api"], asked["message"]) == (
        "Services",
        {"mt": "GetServiceLogin", "app": "other@example.com", "challenge": service.challenges[0]},
    )
    [login] = service.logins
    # Only the AppLogin fields go on: the PBX's key and salt stay behind.
    assert set(login) == {"mt", *APPLOGIN_FIELDS} and login["app"] == "other"
    await standin.disconnect()


async def test_every_reconnect_asks_the_pbx_for_a_fresh_login(other) -> None:
    service, url = other
    service.drop_first = True
    standin = await pbx_listing(url, answer=issuing())
    client = await pbx.connect_service("pbxapp", "other@example.com", backoff=(0.01, 0.01))
    for _ in range(2):
        await asyncio.wait_for(service.logged_in.get(), 5)
    asked = [e["message"]["challenge"] for e in service_logins(standin)]
    assert asked == service.challenges == ["0000000000000001", "0000000000000002"]
    assert (await client.request({"mt": "Echo"}))["mt"] == "EchoResult"
    await client.close()
    await standin.disconnect()


async def test_the_pbx_refusing_is_a_login_refused_with_its_text(other) -> None:
    service, url = other
    standin = await pbx_listing(url, answer=issuing(refuse=True))
    with pytest.raises(LoginRefused) as refused:
        await pbx.connect_service("pbxapp", "other@example.com")
    assert refused.value.error == "unknown-service"
    assert refused.value.error_text == (
        "PBX pbxapp-obj@pbx-main.example.com refused a login to service "
        "'other@example.com': not granted"
    )
    assert service.logins == []  # nothing was sent to the other service
    await standin.disconnect()


async def test_a_service_listed_by_two_pbxs_needs_pbx(other) -> None:
    _service, url = other
    first = await pbx_listing(url, answer=issuing())
    second = await pbx_listing(url, pbx="pbx-b", answer=issuing())
    with pytest.raises(AmbiguousPbx, match="pbx="):
        await pbx.connect_service("pbxapp", "other@example.com")
    async with pbx.connect_service("pbxapp", "other@example.com", pbx="pbx-b"):
        pass
    assert service_logins(first) == [] and len(service_logins(second)) == 1
    await first.disconnect()
    await second.disconnect()

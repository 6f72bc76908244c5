"""``Services``: the App Services the App object may use, and logins to them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from appws.protocol import is_issuable_challenge, login_digest
from appws.testing.fakepbx.identity import Identity, app_of_url
from appws.testing.fakepbx.wire import Wire

__all__ = ["Services"]

API = "Services"


@dataclass
class Services:
    """What ``ServicesInfo`` lists, the passwords the PBX holds, and the subscriptions.

    Each service is ``{"name", "title", "url", "info"}``; ``passwords`` maps a
    service's ``name`` to its App's password, for ``GetServiceLogin``.
    """

    identity: Identity
    services: list[dict[str, Any]] = field(default_factory=list)
    passwords: dict[str, str] = field(default_factory=dict)
    subscriptions: list[Any] = field(default_factory=list)

    def reset(self) -> None:
        self.subscriptions.clear()

    async def serve(self, wire: Wire, msg: dict[str, Any]) -> bool:
        mt = msg.get("mt")
        if mt == "SubscribeServices":
            self.subscriptions.append(msg.get("src"))
            await wire.reply(msg, {})
            await self._info(wire, msg.get("src"))
        elif mt == "UnsubscribeServices":
            self.subscriptions.clear()
            await wire.reply(msg, {})
        elif mt == "GetServiceLogin":
            await wire.reply(msg, self.login(msg.get("app"), msg.get("challenge")))
        else:
            return False
        return True

    async def set(self, wire: Wire | None, services: Sequence[Mapping[str, Any]]) -> None:
        self.services = [dict(service) for service in services]
        if wire is not None:
            for src in self.subscriptions:
                await self._info(wire, src)

    async def _info(self, wire: Wire, src: Any) -> None:
        message: dict[str, Any] = {"api": API, "mt": "ServicesInfo"}
        if src is not None:
            message["src"] = src
        message["services"] = [dict(service) for service in self.services]
        await wire.send(message)

    def login(self, name: Any, challenge: Any) -> dict[str, Any]:
        """``GetServiceLoginResult``: an AppLogin for service ``name``, signed for ``challenge``.

        ``key`` and ``salt`` are left out: nothing in appws uses them.
        """
        service = next((s for s in self.services if s.get("name") == name), None)
        if service is None or not isinstance(name, str) or name not in self.passwords:
            return {"error": "unknown-service", "errorText": f"no service {name!r} granted"}
        if not is_issuable_challenge(challenge):
            return {"error": "bad-challenge", "errorText": "challenge must be 1-16 letters/digits"}
        me = self.identity
        login: dict[str, Any] = {
            "domain": me.domain,
            "sip": me.sip,
            "guid": me.guid,
            "dn": me.dn,
            "pbxObj": me.sip,
            "app": app_of_url(str(service.get("url", ""))),
            # No appobj: this login is the App object's as a user of that service, no PBX's.
            "info": {"cn": me.cn or me.dn},
        }
        login["digest"] = login_digest(login, challenge, self.passwords[name])
        return login

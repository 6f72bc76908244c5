"""``PbxApi`` ``GetNodeInfo`` and ``PbxAdminApi`` ``GetObject`` / ``GetAppLogin``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from appws.protocol import is_issuable_challenge, login_digest
from appws.testing.fakepbx.identity import Identity
from appws.testing.fakepbx.users import UsersTable
from appws.testing.fakepbx.wire import Wire

__all__ = ["AdminApi", "NodeApi"]

DEFAULT_NODE = {
    "name": "root",
    "prefix_intl": "00",
    "prefix_ntl": "0",
    "prefix_subs": "",
    "country_code": "49",
}


@dataclass
class NodeApi:
    """``PbxApi``: only ``GetNodeInfo``."""

    node: dict[str, Any] = field(default_factory=lambda: dict(DEFAULT_NODE))

    def reset(self) -> None:
        pass

    async def serve(self, wire: Wire, msg: dict[str, Any]) -> bool:
        if msg.get("mt") != "GetNodeInfo":
            return False
        await wire.reply(msg, self.node)
        return True


@dataclass
class AdminApi:
    """``PbxAdminApi``: objects from the users table (and the App object), App logins.

    ``app_passwords`` maps an App object to its password, for ``GetAppLogin``.
    """

    identity: Identity
    users: UsersTable
    app_passwords: dict[str, str] = field(default_factory=dict)

    def reset(self) -> None:
        pass

    async def serve(self, wire: Wire, msg: dict[str, Any]) -> bool:
        mt = msg.get("mt")
        if mt == "GetObject":
            await wire.reply(msg, self.get_object(msg))
        elif mt == "GetAppLogin":
            await wire.reply(msg, self.app_login(msg.get("app"), msg.get("challenge")))
        else:
            return False
        return True

    def get_object(self, msg: dict[str, Any]) -> dict[str, Any]:
        keys = [key for key in ("guid", "h323", "cn") if isinstance(msg.get(key), str)]
        if not keys:
            return {"error": "bad-request", "errorText": "GetObject needs h323, guid or cn"}
        objects = [*self.users.rows.values(), self.identity.app_object()]
        for row in objects:
            if all(row.get(key) == msg[key] for key in keys):
                # The admin API shows no password.
                return {key: value for key, value in row.items() if key != "pwd"}
        return {"error": "not-found", "errorText": "no such object"}

    def app_login(self, app: Any, challenge: Any) -> dict[str, Any]:
        """``{app, digest}``: what ``AppCheckLogin`` checks (app and PBX domain hashed)."""
        if not isinstance(app, str) or app not in self.app_passwords:
            return {"error": "unknown-app", "errorText": f"no App object {app!r}"}
        if not is_issuable_challenge(challenge):
            return {"error": "bad-challenge", "errorText": "challenge must be 1-16 letters/digits"}
        login = {"app": app, "domain": self.identity.domain}
        return {"app": app, "digest": login_digest(login, challenge, self.app_passwords[app])}

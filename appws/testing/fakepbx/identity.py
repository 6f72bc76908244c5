"""Who a FakePbx is, and the login and ``PbxInfo`` it sends as the App object."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from appws.protocol import login_digest

__all__ = ["ALL_APIS", "Identity", "app_of_url", "http_url"]

#: The APIs a FakePbx serves; pass a part of it as ``apis`` to enable only those.
ALL_APIS = ("PbxTableUsers", "PbxSignal", "Services", "PbxApi", "PbxAdminApi")


def app_of_url(url: str) -> str:
    """The last path component of an App URL: what a PBX sends as ``app``."""
    return urlsplit(url).path.rstrip("/").rsplit("/", 1)[-1]


def http_url(url: str) -> str:
    """The App URL as an App object holds it (``ws``/``wss`` read as ``http``/``https``)."""
    scheme, rest = url.split(":", 1)
    return {"ws": "http", "wss": "https"}.get(scheme, scheme) + ":" + rest


@dataclass
class Identity:
    """The PBX and its App object, as they appear in the login and in ``PbxInfo``."""

    url: str
    app: str
    sip: str
    dn: str
    domain: str = "example.com"
    pbx: str = "pbx-main"
    pbx_dns: str = ""
    cn: str = ""
    guid: str = field(default_factory=lambda: secrets.token_hex(16))
    lics: int = 0
    unlicensed: bool = False
    apps: Sequence[str] = ()
    apis: Sequence[str] = ALL_APIS
    version: str = "13r3 sr1"
    build: str = "133001"

    def info(self) -> dict[str, Any]:
        """``info`` of the App object's login, keys in the order a PBX writes them."""
        info: dict[str, Any] = {
            "appobj": self.sip,
            "appdn": self.dn,
            "appurl": http_url(self.url),
            "pbx": self.pbx,
            "cn": self.cn or self.dn,
        }
        if self.unlicensed:
            info["unlicensed"] = True
        info["lics"] = self.lics
        info["apps"] = [{"name": name} for name in (self.apps or (self.app,))]
        return info

    def login(self, challenge: str, password: str) -> dict[str, Any]:
        """The ``AppLogin`` for ``challenge``: no ``pbxObj``, as a PBX sends it."""
        login: dict[str, Any] = {
            "mt": "AppLogin",
            "app": self.app,
            "domain": self.domain,
            "sip": self.sip,
            "guid": self.guid,
            "dn": self.dn,
            "info": self.info(),
        }
        login["digest"] = login_digest(login, challenge, password)
        return login

    def pbx_info(self) -> dict[str, Any]:
        return {
            "mt": "PbxInfo",
            "domain": self.domain,
            "pbx": self.pbx,
            "pbxDns": self.pbx_dns or f"{self.pbx}.{self.domain}",
            "apis": list(self.apis),
            "version": self.version,
            "build": self.build,
        }

    def app_object(self) -> dict[str, Any]:
        """The App object as ``PbxAdminApi`` ``GetObject`` shows it."""
        return {
            "guid": self.guid,
            "h323": self.sip,
            "cn": self.cn or self.dn,
            "dn": self.dn,
            "pseudo": "app",
            "url": http_url(self.url),
        }

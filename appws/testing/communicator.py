"""Helpers for testing App Services: a communicator that really logs in."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from channels.testing import WebsocketCommunicator

from appws import protocol


class AppwsCommunicator(WebsocketCommunicator):
    """A Channels ``WebsocketCommunicator`` that speaks AppWebsocket.

    ``await comm.login("notes", "secret")`` connects (if needed) and performs
    the real AppChallenge / AppLogin handshake, so tests exercise the same
    code as production clients::

        comm = AppwsCommunicator(application, "/apps/notes")
        await comm.login("notes", "secret", sip="alice")
        reply = await comm.request({"mt": "ListNotes"})
    """

    async def login(
        self,
        app: str,
        password: str,
        *,
        domain: str = "",
        sip: str = "",
        guid: str = "",
        dn: str = "",
        info: Mapping[str, Any] | None = None,
        pbx_obj: str | None = None,
        timeout: float = 1,
    ) -> dict[str, Any]:
        """Log in as ``app`` with ``password``; return the ``AppLoginResult``."""
        if not getattr(self, "_appws_connected", False):
            connected, _subprotocol = await self.connect(timeout)
            if not connected:
                raise AssertionError("the consumer refused the WebSocket connection")
            self._appws_connected = True
        await self.send_json_to({"mt": "AppChallenge"})
        challenge_result = await self.receive_json_from(timeout)
        challenge = challenge_result["challenge"]
        login: dict[str, Any] = {
            "mt": "AppLogin",
            "app": app,
            "domain": domain,
            "sip": sip,
            "guid": guid,
            "dn": dn,
        }
        if info is not None:
            login["info"] = dict(info)
        if pbx_obj is not None:
            login["pbxObj"] = pbx_obj
        login["digest"] = protocol.login_digest(login, challenge, password)
        await self.send_to(text_data=protocol.encode_login(login))
        result: dict[str, Any] = await self.receive_json_from(timeout)
        self.session_key = protocol.session_key(challenge, password)
        return result

    async def request(self, message: Mapping[str, Any], timeout: float = 1) -> dict[str, Any]:
        """Send ``message`` and return the next message received."""
        await self.send_json_to(dict(message))
        reply: dict[str, Any] = await self.receive_json_from(timeout)
        return reply

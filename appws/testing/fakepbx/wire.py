"""The FakePbx's side of one connection: sending, replying, withholding, dropping."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from appws.protocol import encode_login
from appws.testing.fakepbx.frames import FrameLog

__all__ = ["Wire", "Withhold"]


@dataclass
class Withhold:
    """Replies to requests of ``mt`` (and ``api``, when given) not to send; None: all."""

    mt: str
    api: str | None
    remaining: int | None

    def takes(self, request: Mapping[str, Any]) -> bool:
        if request.get("mt") != self.mt or self.api not in (None, request.get("api")):
            return False
        if self.remaining is not None:
            self.remaining -= 1
        return True


@dataclass
class Wire:
    """Sends frames on the current socket and records each one."""

    log: FrameLog
    socket: ClientConnection | None = None
    connection: int = 0
    withholds: list[Withhold] = field(default_factory=list)
    #: The requests whose replies were withheld, in order.
    withheld: list[dict[str, Any]] = field(default_factory=list)

    async def send_text(self, text: str) -> None:
        """Send ``text`` as it is; a closed socket is no error (the PBX lost it)."""
        if self.socket is None:
            raise RuntimeError("the FakePbx is not connected: call open() first")
        self.log.add(self.connection, "sent", text)
        with contextlib.suppress(ConnectionClosed):
            await self.socket.send(text)

    async def send(self, message: Mapping[str, Any]) -> None:
        if message.get("mt") == "AppLogin":
            await self.send_text(encode_login(message))
        else:
            await self.send_text(json.dumps(message, ensure_ascii=False, separators=(",", ":")))

    async def reply(self, request: Mapping[str, Any], fields: Mapping[str, Any]) -> None:
        """Answer ``request`` with ``<mt>Result`` (same ``api`` and ``src``), unless withheld."""
        for rule in list(self.withholds):
            if rule.takes(request):
                if rule.remaining == 0:
                    self.withholds.remove(rule)
                self.withheld.append(dict(request))
                return
        await self.send(result(request, fields))

    async def drop(self) -> None:
        """Close the socket as a PBX losing its connection would (close code 1001)."""
        if self.socket is not None:
            await self.socket.close(1001, "FakePbx dropped the connection")


def result(request: Mapping[str, Any], fields: Mapping[str, Any]) -> dict[str, Any]:
    """``<mt>Result`` to ``request``: its ``api``, then ``fields``, then its ``src``."""
    reply: dict[str, Any] = {"api": request.get("api"), "mt": f"{request.get('mt')}Result"}
    reply.update(fields)
    if "src" in request:
        reply["src"] = request["src"]
    return reply

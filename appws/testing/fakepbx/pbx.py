"""``FakePbx``: a PBX's connection to an App Service, for tests (docs/testing.md)."""

from __future__ import annotations

import asyncio
import ssl as ssl_module
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Protocol

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed
from websockets.protocol import State

from appws.testing.fakepbx.admin import AdminApi, NodeApi
from appws.testing.fakepbx.frames import Frame, FrameLog, Recorder
from appws.testing.fakepbx.identity import ALL_APIS, Identity, app_of_url
from appws.testing.fakepbx.services import Services
from appws.testing.fakepbx.signal import PresenceCall, Signal
from appws.testing.fakepbx.users import UsersTable, new_user
from appws.testing.fakepbx.wire import Wire, Withhold

__all__ = ["FakePbx", "LoginRefused"]


class ApiServer(Protocol):
    """One API the FakePbx serves; ``serve`` returns False for a request it does not know."""

    def reset(self) -> None: ...

    async def serve(self, wire: Wire, msg: dict[str, Any]) -> bool: ...


class LoginRefused(Exception):
    """The service answered the App object's ``AppLogin`` with ``ok: false``."""

    def __init__(self, result: Mapping[str, Any]) -> None:
        super().__init__(f"the service refused the PBX's login: {result.get('errorText')!r}")
        self.result = dict(result)


class FakePbx(Recorder):
    """Connects to ``url`` as a PBX's App object does, then serves ``apis`` from memory.

    ``app`` defaults to the URL's last path component and ``sip`` (the App object's
    name) to ``app``. ``users`` are rows (see :func:`new_user`); ``services`` and
    ``service_passwords`` feed ``Services``; ``app_passwords`` feeds ``GetAppLogin``.
    """

    def __init__(
        self,
        url: str,
        *,
        password: str,
        app: str | None = None,
        apis: Sequence[str] = ALL_APIS,
        sip: str | None = None,
        dn: str | None = None,
        domain: str = "example.com",
        pbx: str = "pbx-main",
        pbx_dns: str = "",
        guid: str | None = None,
        cn: str = "",
        lics: int = 0,
        unlicensed: bool = False,
        apps: Sequence[str] = (),
        users: Iterable[Mapping[str, Any]] = (),
        services: Sequence[Mapping[str, Any]] = (),
        service_passwords: Mapping[str, str] | None = None,
        app_passwords: Mapping[str, str] | None = None,
        node_info: Mapping[str, Any] | None = None,
        send_app_info: bool = True,
        ssl: ssl_module.SSLContext | None = None,
        timeout: float = 10.0,
        listener: Callable[[Frame], None] | None = None,
    ) -> None:
        app = app or app_of_url(url)
        sip = sip or app
        self.identity = Identity(
            url, app, sip, dn or sip, domain, pbx, pbx_dns, cn, lics=lics,
            unlicensed=unlicensed, apps=tuple(apps), apis=tuple(apis),
        )  # fmt: skip
        if guid is not None:
            self.identity.guid = guid
        self.password = password
        self.send_app_info = send_app_info
        self.ssl = ssl
        self.timeout = timeout
        self.log = FrameLog(listener=listener)
        self.wire = Wire(self.log)
        self.users = UsersTable()
        self.users.load(users)
        self.signal = Signal()
        self.services = Services(self.identity, passwords=dict(service_passwords or {}))
        self.services.services = [dict(service) for service in services]
        self.node = NodeApi()
        if node_info is not None:
            self.node.node = dict(node_info)
        self.admin = AdminApi(self.identity, self.users, dict(app_passwords or {}))
        self._servers: dict[str, ApiServer] = {
            "PbxTableUsers": self.users, "PbxSignal": self.signal, "Services": self.services,
            "PbxApi": self.node, "PbxAdminApi": self.admin,
        }  # fmt: skip
        self.login_result: dict[str, Any] | None = None
        self.app_info_result: dict[str, Any] | None = None
        self.close_code: int | None = None
        self.close_reason: str = ""
        #: Who closed the last connection: "pbx", "service", or "lost" (no close frame).
        self.closed_by: str | None = None
        self._reader: asyncio.Task[None] | None = None

    # -- the connection ----------------------------------------------------

    async def __aenter__(self) -> FakePbx:
        return await self.open()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def connected(self) -> bool:
        return self._reader is not None and not self._reader.done()

    async def open(self) -> FakePbx:
        """Connect, log in as the App object, send ``PbxInfo`` (and ``AppInfo``), serve.

        Raises :class:`LoginRefused` when the service says ``ok: false``.
        """
        if self.connected:
            raise RuntimeError("the FakePbx is connected already: drop() or close() it first")
        self.wire.connection += 1
        for server in self._servers.values():
            server.reset()
        self.close_code, self.close_reason, self.closed_by = None, "", None
        socket = await connect(self.identity.url, ssl=self.ssl, open_timeout=self.timeout)
        self.wire.socket = socket
        await self.wire.send({"mt": "AppChallenge"})
        challenge = (await self._login_reply("AppChallengeResult")).get("challenge")
        if not isinstance(challenge, str):
            await socket.close()
            raise RuntimeError(f"AppChallengeResult without a string challenge: {challenge!r}")
        await self.wire.send(self.identity.login(challenge, self.password))
        self.login_result = await self._login_reply("AppLoginResult")
        if self.login_result.get("ok") is not True:
            await socket.close()
            raise LoginRefused(self.login_result)
        await self.wire.send(self.identity.pbx_info())
        if self.send_app_info:
            await self.wire.send({"mt": "AppInfo", "app": self.identity.app})
        self._reader = asyncio.create_task(self._read(socket))
        return self

    async def _login_reply(self, mt: str) -> dict[str, Any]:
        socket = self.wire.socket
        assert socket is not None
        while True:
            text = await asyncio.wait_for(socket.recv(), self.timeout)
            frame = self.log.add(self.wire.connection, "received", str(text))
            if frame.mt == mt and frame.message is not None:
                return frame.message

    async def _read(self, socket: Any) -> None:
        try:
            async for data in socket:
                text = data if isinstance(data, str) else f"<binary frame of {len(data)} bytes>"
                frame = self.log.add(self.wire.connection, "received", text)
                # Once the connection is closing (drop(), or the service closed it), a PBX
                # answers nothing more: frames that were on their way are only recorded.
                if socket.state is State.OPEN:
                    await self._serve(frame)
        except ConnectionClosed:
            pass
        finally:
            self._closed(socket.protocol)

    def _closed(self, protocol: Any) -> None:
        # The close frame of the side that closed first: ours after drop(), the service's
        # when it ended the session (rather than the code echoed back).
        sent, received = protocol.close_sent, protocol.close_rcvd
        if received is not None and (sent is None or protocol.close_rcvd_then_sent):
            self.closed_by, frame = "service", received
        elif sent is not None:
            self.closed_by, frame = "pbx", sent
        else:
            self.closed_by, frame = "lost", None
        self.close_code = None if frame is None else frame.code
        self.close_reason = "" if frame is None else frame.reason

    async def _serve(self, frame: Frame) -> None:
        message, mt, api = frame.message, frame.mt, frame.api
        if message is None or not isinstance(mt, str):
            return  # a PBX answers nothing it cannot read
        if api is None:
            if mt == "AppInfoResult":
                self.app_info_result = message
            return
        server = self._servers.get(api) if api in self.identity.apis else None
        # Silent on APIs not enabled, and never answering a result or an error.
        if server is None or mt.endswith("Result") or mt == "Error":
            return
        if not await server.serve(self.wire, message):
            await self.wire.reply(
                message,
                {"error": "unknown-request", "errorText": f"{api} has no request {mt!r}"},
            )

    async def run(self) -> None:
        """Serve until the connection ends (either side closing it)."""
        if self._reader is not None:
            await self._reader

    async def drop(self) -> None:
        """Lose the connection, as a PBX restarting does (the service sees close code 1001)."""
        await self.wire.drop()
        await self.run()

    async def reopen(self) -> FakePbx:
        """Drop the connection (if any) and open a new one: a new login, ``PbxInfo`` again."""
        if self.connected:
            await self.drop()
        return await self.open()

    async def close(self) -> None:
        """Close the connection normally (1000) and stop serving."""
        if self.wire.socket is not None:
            await self.wire.socket.close()
        await self.run()

    async def wait_closed(self, timeout: float | None = None) -> int | None:
        """Wait until the connection ends; return its close code."""
        if self._reader is not None:
            await asyncio.wait_for(asyncio.shield(self._reader), timeout or self.timeout)
        return self.close_code

    # -- the PBX's state, changed by the test ------------------------------

    async def add_user(self, h323: str, **columns: Any) -> dict[str, Any]:
        """Add a user (``ReplicateAdd`` to every replication); returns its row."""
        row = new_user(h323, **columns)
        self.users.rows[row["guid"]] = row
        await self._push("ReplicateAdd", row)
        return row

    async def update_user(self, guid: str, **columns: Any) -> dict[str, Any]:
        """Change a user's columns (``ReplicateUpdate`` with the whole row)."""
        row = self.users.rows[guid]
        row.update(columns)
        await self._push("ReplicateUpdate", row)
        return row

    async def delete_user(self, guid: str) -> None:
        """Delete a user (``ReplicateDel`` carrying its ``guid`` and ``h323``)."""
        row = self.users.rows.pop(guid)
        await self._push("ReplicateDel", {"guid": guid, "h323": row.get("h323")})

    async def _push(self, mt: str, columns: Mapping[str, Any]) -> None:
        if self.connected and "PbxTableUsers" in self.identity.apis:
            await self.users.push(self.wire, mt, columns)

    async def subscribe_presence(self, user: str, app: str | None = None) -> PresenceCall:
        """Place a presence-subscribe call from ``user`` to ``app`` (the App object)."""
        return await self.signal.subscribe(self.wire, user, app or self.identity.sip)

    async def release(self, call: PresenceCall) -> None:
        """End the presence subscription: ``rel`` on its call."""
        await self.signal.release(self.wire, call)

    async def set_services(self, services: Sequence[Mapping[str, Any]]) -> None:
        """Replace the services (``ServicesInfo`` again to every subscription)."""
        await self.services.set(self.wire if self.connected else None, services)

    # -- faults ------------------------------------------------------------

    def withhold(self, mt: str, *, api: str | None = None, count: int | None = 1) -> None:
        """Send no reply to the next ``count`` requests of ``mt`` (None: to every one).

        The requests left unanswered are in :attr:`withheld`.
        """
        self.wire.withholds.append(Withhold(mt, api, count))

    @property
    def withheld(self) -> list[dict[str, Any]]:
        return self.wire.withheld

    async def send(self, message: Mapping[str, Any]) -> None:
        """Send any message, e.g. one reusing a ``src`` of the service's requests."""
        await self.wire.send(message)

    async def send_raw(self, text: str) -> None:
        """Send ``text`` as a frame, as it is (not JSON, no ``mt``...)."""
        await self.wire.send_text(text)

    def inject_row(self, columns: Mapping[str, Any]) -> None:
        """Serve ``columns`` as a row of every later initial copy, after the users, unchecked."""
        self.users.raw_rows.append(dict(columns))

    def drop_after_rows(self, count: int) -> None:
        """Drop the connection after sending ``count`` rows of the next initial copy."""
        self.users.drop_after = count

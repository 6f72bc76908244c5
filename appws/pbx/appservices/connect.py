"""``appws.pbx.connect_service()``: a client logged in to another App Service by the PBX."""

from __future__ import annotations

import functools
from collections.abc import Generator, Mapping
from typing import Any
from urllib.parse import urlsplit

from appws.client import Client, LoginRefused, ServiceLogin
from appws.exceptions import PeerError
from appws.pbx.appservices.feature import API
from appws.pbx.appservices.lookup import PbxService, aservices
from appws.pbx.call import arequest
from appws.pbx.errors import AmbiguousPbx, UnknownService
from appws.pbx.targets import PbxSelector
from appws.protocol import PbxIdentity

__all__ = ["ServiceConnection", "connect_service", "find_service"]


def connect_service(
    app: str,
    name: str,
    *,
    pbx: PbxSelector | None = None,
    timeout: float | None = None,
    **options: Any,
) -> ServiceConnection:
    """A :class:`~appws.client.Client` to service ``name``, logged in through the PBX.

    ``await connect_service(...)`` returns the connected client (close it when done);
    ``async with connect_service(...) as client:`` closes it on the way out. ``name``
    is a service's name in :func:`appws.pbx.services` of App ``app``; the PBX listing
    it issues each login (``GetServiceLogin``, within ``timeout`` seconds), for the
    first connection and every reconnect. ``options`` go to ``Client`` (``cafile``,
    ``request_timeout``, ``reconnect``...). Raises :class:`~appws.pbx.UnknownService`,
    :class:`~appws.pbx.AmbiguousPbx` (several PBXs list it: say which with ``pbx=``),
    ``LoginRefused`` (the PBX or the service said no) and what ``Client.connect()``
    raises.
    """
    return ServiceConnection(app, name, pbx, timeout, options)


class ServiceConnection:
    """What :func:`connect_service` returns: await it, or use it with ``async with``."""

    def __init__(
        self,
        app: str,
        name: str,
        pbx: PbxSelector | None,
        timeout: float | None,
        options: dict[str, Any],
    ) -> None:
        self._args = (app, name, pbx, timeout, options)
        self._client: Client | None = None

    def __await__(self) -> Generator[Any, None, Client]:
        return self._connect().__await__()

    async def __aenter__(self) -> Client:
        self._client = await self._connect()
        return self._client

    async def __aexit__(self, *exc_info: object) -> None:
        if self._client is not None:
            await self._client.close()

    async def _connect(self) -> Client:
        app, name, pbx, timeout, options = self._args
        service = await find_service(app, name, pbx=pbx)
        ask = functools.partial(_ask_pbx, app, service.pbx, timeout)
        login = ServiceLogin(name, ask)
        client = Client(service.url, app_of_url(service.url), login=login, **options)
        return await client.connect()


async def find_service(app: str, name: str, *, pbx: PbxSelector | None = None) -> PbxService:
    """The one service ``name`` the PBXs of App ``app`` (matching ``pbx``) list."""
    listed = await aservices(app, pbx=pbx)
    found = [service for service in listed if service.name == name]
    if not found:
        raise UnknownService(app, name, sorted({service.name for service in listed}))
    if len(found) > 1:
        raise AmbiguousPbx(app, API, [service.pbx for service in found])
    return found[0]


def app_of_url(url: str) -> str:
    """The App a service URL serves: its last path component, as the PBX names it."""
    return urlsplit(url).path.rstrip("/").rsplit("/", 1)[-1]


async def _ask_pbx(
    app: str, pbx: PbxIdentity, timeout: float | None, name: str, challenge: str
) -> Mapping[str, Any]:
    request = {"mt": "GetServiceLogin", "app": name, "challenge": challenge}
    try:
        return await arequest(app, request, api=API, pbx=pbx, timeout=timeout)
    except PeerError as error:
        # The PBX's refusal in its own words; its reply holds no digest.
        raise LoginRefused(
            f"PBX {pbx} refused a login to service {name!r}: {error.text or error.code}",
            error=error.code,
        ) from None

"""``appws.pbx.connect_service()``: a client logged in to another App Service by the PBX."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from appws.client import Client, LoginRefused, ServiceLogin
from appws.exceptions import PeerError
from appws.pbx.appservices.feature import API
from appws.pbx.appservices.lookup import PbxService, aservices
from appws.pbx.call import PbxSelector, arequest
from appws.pbx.errors import AmbiguousPbx, UnknownService
from appws.protocol import PbxIdentity

__all__ = ["connect_service", "find_service"]


async def connect_service(
    app: str,
    name: str,
    *,
    pbx: PbxSelector | None = None,
    timeout: float | None = None,
    **options: Any,
) -> Client:
    """Open a :class:`~appws.client.Client` to service ``name`` and log in through the PBX.

    ``name`` is a service's name in :func:`appws.pbx.services` of App ``app``; the PBX
    listing it issues each login (``GetServiceLogin``, within ``timeout`` seconds), for
    the first connection and every reconnect. ``options`` go to ``Client`` (``cafile``,
    ``request_timeout``, ``reconnect``...). Raises :class:`~appws.pbx.UnknownService`,
    :class:`~appws.pbx.AmbiguousPbx` (the service is listed by several PBXs: say which
    with ``pbx=``), ``LoginRefused`` (the PBX or the service said no) and what
    ``Client.connect()`` raises. Close the client when done (``async with``).
    """
    service = await find_service(app, name, pbx=pbx)
    ask = functools.partial(_ask_pbx, app, service.pbx, timeout)
    client = Client(service.url, app_of_url(service.url), login=ServiceLogin(name, ask), **options)
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

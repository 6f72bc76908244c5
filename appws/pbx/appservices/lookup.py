"""``appws.pbx.services()``: the App Services the connected PBXs offer, read from their rows."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from channels.db import database_sync_to_async

from appws.pbx.appservices.entries import clean_entry
from appws.pbx.connected import live_rows
from appws.pbx.targets import PbxSelector
from appws.protocol import PbxIdentity

__all__ = ["PbxService", "aservices", "services"]


@dataclass(frozen=True)
class PbxService:
    """One App Service a connected PBX lets App ``app``'s App object use (its ServicesInfo).

    ``info`` is that service's ``serviceInfo.apis`` as the PBX lists it; ``apis`` its keys.
    ``pbx`` is the PBX that lists it: the one that issues logins to it.
    """

    app: str
    name: str
    title: str
    url: str
    pbx: PbxIdentity
    info: Mapping[str, Any] = field(default_factory=dict, compare=False)

    @property
    def apis(self) -> frozenset[str]:
        return frozenset(self.info)

    def as_dict(self) -> dict[str, Any]:
        """The service as JSON values."""
        return {
            "app": self.app,
            "name": self.name,
            "title": self.title,
            "url": self.url,
            "pbx": str(self.pbx),
            "info": dict(self.info),
        }


def services(app: str, *, pbx: PbxSelector | None = None) -> list[PbxService]:
    """The services the PBXs connected to App ``app`` list now (those matching ``pbx``).

    In the PBXs' order, each PBX's in the order it listed them; PBXs of stale processes
    are left out, as :func:`appws.pbx.connected_pbxs` does.
    """
    found: list[PbxService] = []
    for row in live_rows(app):
        identity = row.identity
        if pbx is not None and not identity.matches(pbx):
            continue
        for entry in row.services if isinstance(row.services, list) else ():
            try:
                # Checked again: a row is only as good as whoever wrote it last.
                service = clean_entry(entry)
            except ValueError:
                continue
            found.append(
                PbxService(
                    app=app,
                    name=service["name"],
                    title=service["title"],
                    url=service["url"],
                    pbx=identity,
                    info=MappingProxyType(service["info"]),
                )
            )
    return found


async def aservices(app: str, *, pbx: PbxSelector | None = None) -> list[PbxService]:
    """:func:`services` for async code."""
    found: list[PbxService] = await database_sync_to_async(services)(app, pbx=pbx)
    return found

"""Call the APIs of a connected PBX from anywhere in the site (docs/pbx.md).

``appws.pbx.request(app, msg, api=...)`` from views and commands, ``await
appws.pbx.arequest(...)`` from async code; ``send``/``asend`` without waiting.
``services(app)`` lists the App Services the PBXs offer, and ``await
connect_service(app, name)`` logs in to one of them.
The exceptions import without Django; the calls load it on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from appws._lazy import lazy_exports
from appws.pbx.errors import (
    AmbiguousPbx,
    NoPbxConnected,
    PbxBusy,
    PbxUnreachable,
    UnknownService,
)

if TYPE_CHECKING:
    from appws.pbx.appservices.connect import connect_service
    from appws.pbx.appservices.lookup import PbxService, aservices, services
    from appws.pbx.call import arequest, asend, request, send
    from appws.pbx.connected import ConnectedPbx, connected_pbxs

__all__ = [
    "AmbiguousPbx",
    "ConnectedPbx",
    "NoPbxConnected",
    "PbxBusy",
    "PbxService",
    "PbxUnreachable",
    "UnknownService",
    "arequest",
    "asend",
    "aservices",
    "connect_service",
    "connected_pbxs",
    "request",
    "send",
    "services",
]

_LAZY = {
    "arequest": "appws.pbx.call",
    "asend": "appws.pbx.call",
    "request": "appws.pbx.call",
    "send": "appws.pbx.call",
    "ConnectedPbx": "appws.pbx.connected",
    "connected_pbxs": "appws.pbx.connected",
    "PbxService": "appws.pbx.appservices.lookup",
    "aservices": "appws.pbx.appservices.lookup",
    "services": "appws.pbx.appservices.lookup",
    "connect_service": "appws.pbx.appservices.connect",
}


__getattr__, __dir__ = lazy_exports(__name__, _LAZY, __all__)

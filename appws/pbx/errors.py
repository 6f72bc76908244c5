"""Why a call through :mod:`appws.pbx` got no reply, beside the peer-request exceptions.

All derive from :class:`appws.exceptions.PeerRequestError`, as the exceptions of a
consumer's own requests to its PBX do, so one ``except`` covers both paths.
"""

from __future__ import annotations

from collections.abc import Sequence

from appws.exceptions import PeerRequestError
from appws.protocol import PbxIdentity

__all__ = ["AmbiguousPbx", "NoPbxConnected", "PbxBusy", "PbxUnreachable", "UnknownService"]


def _names(identities: Sequence[PbxIdentity]) -> str:
    return ", ".join(sorted(str(identity) for identity in identities))


class NoPbxConnected(PeerRequestError):
    """No connected PBX of App ``app`` enables ``api`` (and matches ``pbx=``, when given).

    ``without_api`` lists the connected PBXs of the App that do not enable it.
    """

    def __init__(
        self, app: str, api: str, *, without_api: Sequence[PbxIdentity] = (), narrowed: bool
    ) -> None:
        self.app = app
        self.api = api
        self.without_api = tuple(without_api)
        which = " matching pbx=" if narrowed else ""
        text = f"No PBX{which} is connected to App {app!r} with the API {api!r} enabled"
        if self.without_api:
            text += (
                f"; connected without it: {_names(self.without_api)} (tick {api} among the "
                "App object's APIs on the PBX; it connects again with the new list)"
            )
        else:
            text += f"; no PBX{which} of App {app!r} is connected at all"
        super().__init__(text + ".")


class AmbiguousPbx(PeerRequestError):
    """More than one connected PBX could take the request: ``candidates`` lists them."""

    def __init__(self, app: str, api: str, candidates: Sequence[PbxIdentity]) -> None:
        self.app = app
        self.api = api
        self.candidates = tuple(candidates)
        super().__init__(
            f"{len(self.candidates)} PBXs connected to App {app!r} enable the API {api!r}: "
            f"{_names(self.candidates)}. Say which with pbx= (a PBX name, an identity as "
            "listed, or a dict of domain/pbx/sip)."
        )


class PbxBusy(PeerRequestError):
    """The PBX's session cannot take the request now (its channel or its request slots are
    full): try again later."""


class PbxUnreachable(PeerRequestError):
    """The PBX's socket is held by another process, and the channel layer cannot reach it."""


class UnknownService(PeerRequestError):
    """No connected PBX of App ``app`` lists the App Service ``name``; ``known`` are those
    they list (``appws.pbx.services(app)``)."""

    def __init__(self, app: str, name: str, known: Sequence[str]) -> None:
        self.app = app
        self.name = name
        self.known = tuple(known)
        listed = ", ".join(repr(known_name) for known_name in self.known)
        super().__init__(
            f"No PBX connected to App {app!r} lists a service {name!r}: "
            + (
                f"they list {listed}."
                if self.known
                else "they list none (is the Services API ticked on the App object, and is "
                "the other service granted to it on the PBX?)."
            )
        )

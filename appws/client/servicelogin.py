"""A login source for one App Service logging in to another through its PBX (docs/pbx.md).

The PBX holds the other service's password; asked with ``GetServiceLogin`` for a
challenge, it answers with the ``AppLogin`` fields, digest included. Nothing here talks
to the PBX: ``ask`` does (``appws.pbx.connect_service`` passes one that goes through
the PBX's session, wherever it runs).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from appws.client.login import issued_fields

__all__ = ["AskPbx", "ServiceLogin"]

AskPbx = Callable[[str, str], Awaitable[Mapping[str, Any]]]
"""``(service name, challenge) -> GetServiceLoginResult``: the PBX's answer."""


class ServiceLogin:
    """A login callback (``Client(..., login=ServiceLogin(name, ask))``) for service ``name``.

    Every login, reconnects included, asks the PBX afresh for the challenge at hand.
    The ``AppLogin`` carries only the login fields of the answer: ``key`` and ``salt``
    stay behind. An answer with ``error``/``errorText`` is a ``LoginRefused``.
    """

    def __init__(self, service: str, ask: AskPbx) -> None:
        self.service = service
        self._ask = ask

    async def __call__(self, app: str, challenge: str) -> dict[str, Any]:
        """Return the ``AppLogin`` fields for ``challenge`` of App ``app``'s service."""
        return issued_fields(app, await self._ask(self.service, challenge))

    def __repr__(self) -> str:
        return f"ServiceLogin({self.service!r})"

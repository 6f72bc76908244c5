"""The hooks an App Service overrides, with appws's defaults.

:class:`ServiceHooks` knows nothing of the consumer's state: each hook takes what it
needs as arguments, or reads the class attributes a service sets.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from appws.accounts import AppAccount, database_app_info, load_app
from appws.builds import current_build
from appws.protocol import PbxInfo
from appws.server.login import default_user
from appws.server.session import Session


class ServiceHooks:
    """What a service says about itself, and the hooks called at login and after."""

    #: Names of the Apps this service accepts logins for.
    apps: ClassVar[Sequence[str]] = ()
    #: Payload of ``AppInfoResult`` (everything but ``mt``/``src``) for Apps
    #: without a database row.
    app_info: ClassVar[Mapping[str, Any]] = {
        "info": {"hidden": False, "apis": {}},
        "serviceInfo": {"apis": {}},
    }
    #: Replicate the user table of every PBX that connects with ``PbxTableUsers``
    #: into :class:`appws.models.PbxUser` (docs/pbx.md): True for the usual columns,
    #: or the column names wanted.
    replicate_users: ClassVar[bool | Sequence[str]] = False
    #: Apps whose icon shows a badge count: ``AppInfoResult`` says ``presence: true``
    #: for them, and PBX sessions with ``PbxSignal`` answer the badge subscriptions.
    badge_apps: ClassVar[Sequence[str]] = ()
    #: Follow the App Services of every PBX that connects with ``Services``
    #: (``appws.pbx.services()``, ``connect_service()``); False leaves that API alone.
    track_services: ClassVar[bool] = True

    async def get_app(self, name: str) -> AppAccount | None:
        """Called at login: return App ``name`` with its password, or None if unknown.

        The default reads ``settings.APPWS["APPS"]``, then the App table.
        """
        return await load_app(name)

    async def get_user(self, session: Session) -> Any:
        """Called at login (``MAP_USERS``): return the Django user of this login, or None.

        The default finds the active user whose username is the login's ``sip``.
        """
        return await default_user(session)

    # The default is known to the login, which looks the user up with the
    # session's row (appws.server.login.finds_user_later); an override is called.
    get_user.finds_by_sip = True  # type: ignore[attr-defined]

    async def get_app_info(self, app: str) -> Mapping[str, Any]:
        """Called on ``AppInfo``: return the ``AppInfoResult`` payload for ``app``.

        The default uses the App row (hidden, info_apis, service_apis) for Apps
        from the database, else the class attribute ``app_info``.
        """
        return await database_app_info(app) or self.app_info

    def get_build(self) -> str | None:
        """Called on ``CheckBuild``: return the current build number, or None.

        The default is ``APPWS["BUILD"]``, else a hash of the files in
        ``APPWS["APP_DIRS"]``.
        """
        return current_build()

    async def get_badge(self, app: str, user: str) -> int:
        """Called when ``user`` (the PBX user's sip) subscribes to App ``app``'s badge.

        Return the count to show first (the default: 0); later counts come from
        ``appws.badges.set()``.
        """
        return 0

    async def logged_in(self) -> None:
        """Called after a successful login, once ``self.session`` is set."""

    async def pbx_connected(self, pbx: PbxInfo) -> None:
        """Called when a PBX session's ``PbxInfo`` arrived (``self.session.pbx`` is ``pbx``).

        Runs as a task of the session, beside its handlers: it may call the PBX
        (``await self.request(...)``, ``self.subscribe_peer(...)``) and wait for the
        answers. Cancelled when the session ends or a new ``PbxInfo`` arrives.
        """

    async def pbx_disconnected(self, pbx: PbxInfo) -> None:
        """Called when the PBX of ``pbx_connected`` is gone: the session ended, or it sent
        a new ``PbxInfo``. Nothing more can be sent to it."""

"""The reserved message types: challenge, login, CheckBuild, AppInfo and friends.

A mixin of :class:`appws.AppWebsocketConsumer`; kept apart so that the login
rules read in one place.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, cast

from asgiref.sync import sync_to_async
from django.apps import apps as django_apps
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.http.request import split_domain_port

from appws import live_sessions, protocol
from appws.accounts import cache_key, load_app
from appws.builds import current_build
from appws.conf import appws_settings, settings_app
from appws.exceptions import LoginFailed
from appws.protocol.quoting import quote
from appws.server import throttle
from appws.server.session import AppAccount, Session

if TYPE_CHECKING:
    from appws.server.consumer import AppWebsocketConsumer

login_logger = logging.getLogger("appws.login")

#: Close codes the server uses (4000-4999 are the application's to define).
LOGIN_FAILED_CLOSE_CODE = 4401
THROTTLED_CLOSE_CODE = 4429
APP_WITHDRAWN_CLOSE_CODE = 4403
ADMIN_DISCONNECT_CLOSE_CODE = 4000

_STRING_LOGIN_FIELDS = (*protocol.LOGIN_FIELDS, "digest", "pbxObj")


def _is_utf8(value: str) -> bool:
    # A lone surrogate (from a \ud800 escape) is no text: databases refuse it.
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


class Handshake:
    """Serves the message types reserved by the protocol."""

    apps: ClassVar[Sequence[str]] = ()
    app_info: ClassVar[Mapping[str, Any]] = {
        "info": {"hidden": False, "apis": {}},
        "serviceInfo": {"apis": {}},
    }
    session: Session | None
    scope: Any
    _challenge: str | None
    _closed: bool

    if TYPE_CHECKING:  # provided by AppWebsocketConsumer and Channels
        channel_name: str
        _keepalive_echo: bool

        async def reply(
            self, request: Mapping[str, Any], payload: Mapping[str, Any], *, mt: str | None = None
        ) -> None: ...

        async def reply_error(
            self, request: Mapping[str, Any], code: str, text: str, *, mt: str | None = None
        ) -> None: ...

        async def close(self, code: int | None = None, reason: str | None = None) -> None: ...

        async def not_logged_in(self, message: Mapping[str, Any]) -> None: ...

        def stop_login_timer(self) -> None: ...

    # -- hooks -------------------------------------------------------------

    async def get_app(self, name: str) -> AppAccount | None:
        """Called at login: return App ``name`` with its password, or None if unknown.

        The default reads ``settings.APPWS["APPS"]``, then the App table.
        """
        return await load_app(name)

    async def get_user(self, session: Session) -> Any:
        """Called at login (``MAP_USERS``): return the Django user of this login, or None.

        The default finds the active user whose username is the login's ``sip``.
        """
        if not session.sip:
            return None
        user_model = get_user_model()
        lookup = {user_model.USERNAME_FIELD: session.sip, "is_active": True}
        return await user_model._default_manager.filter(**lookup).afirst()

    async def get_app_info(self, app: str) -> Mapping[str, Any]:
        """Called on ``AppInfo``: return the ``AppInfoResult`` payload for ``app``.

        The default uses the App row (hidden, info_apis, service_apis) for Apps
        from the database, else the class attribute ``app_info``.
        """
        if settings_app(app) is None and django_apps.is_installed("appws"):
            from appws.models import App

            row = await App.objects.filter(name=app).afirst()
            if row is not None:
                return {
                    "info": {"hidden": row.hidden, "apis": row.info_apis},
                    "serviceInfo": {"apis": row.service_apis},
                }
        return self.app_info

    def get_build(self) -> str | None:
        """Called on ``CheckBuild``: return the current build number, or None.

        The default is ``APPWS["BUILD"]``, else a hash of the files in
        ``APPWS["APP_DIRS"]``.
        """
        return current_build()

    async def logged_in(self) -> None:
        """Called after a successful login, once ``self.session`` is set."""

    # -- the reserved message types ----------------------------------------

    async def _app_challenge(self, message: dict[str, Any], frame: str) -> None:
        self._challenge = protocol.new_challenge()
        await self.reply(message, {"challenge": self._challenge})

    async def _app_login(self, message: dict[str, Any], frame: str) -> None:
        if self.session is not None:
            await self.reply(
                message, {"ok": False, "errorText": "already logged in on this connection"}
            )
            return
        # Single use, success or not: a captured AppLogin can never be replayed.
        challenge, self._challenge = self._challenge, None
        peer = self.peer_address()
        try:
            # Before the digest is checked: at most LOGIN_FAILURE_LIMIT wrong
            # ones per window, however many logins arrive at once.
            slot = await throttle.reserve(peer)
        except throttle.Throttled as refusal:
            await self._refuse_login(message, refusal.text, peer, THROTTLED_CLOSE_CODE)
            return
        try:
            if self._closed:  # timed out while waiting for the slot
                return
            session = await self._check_login(message, challenge, frame)
        except LoginFailed as failure:
            if failure.wrong_digest:  # a guess of the password: the throttle counts those
                await slot.failed()
            await self._refuse_login(message, failure.text, peer, LOGIN_FAILED_CLOSE_CODE)
            return
        finally:
            await slot.release()  # nothing after failed()
        self.session = session
        self.stop_login_timer()
        login_logger.info(
            "AppLogin ok (app=%r sip=%r domain=%r from %r)",
            session.app,
            session.sip,
            session.domain,
            peer,
        )
        if appws_settings()["TRACK_SESSIONS"] and django_apps.is_installed("appws"):
            # Before the reply: once a client is logged in, admins and App
            # changes must already find its row.
            try:
                await live_sessions.register(
                    cast("AppWebsocketConsumer", self), self._live_fields(session)
                )
            except Exception:
                # Tracking must not cost the login: the session works, unlisted.
                login_logger.exception(
                    "could not record the live session of App %r (sip %r); is the database "
                    "migrated (manage.py migrate)?",
                    session.app,
                    session.sip,
                )
        await self.reply(message, {"ok": True, "domain": session.instance_domain})
        await self.logged_in()

    async def _refuse_login(
        self, message: Mapping[str, Any], text: str, peer: str, code: int
    ) -> None:
        login_logger.warning(
            "AppLogin refused: %r (app=%r sip=%r domain=%r from %r)",
            text,
            message.get("app"),
            message.get("sip"),
            message.get("domain"),
            peer,
        )
        await self.reply(message, {"ok": False, "errorText": text})
        self._closed = True
        await self.close(code=code)

    async def _check_login(
        self, message: Mapping[str, Any], challenge: str | None, frame: str
    ) -> Session:
        if challenge is None:
            raise LoginFailed("no challenge: send AppChallenge before AppLogin")
        for field in _STRING_LOGIN_FIELDS:
            value = message.get(field)
            if value is None:
                continue
            if not isinstance(value, str):
                raise LoginFailed(f"AppLogin field {field!r} must be a string")
            if not _is_utf8(value):
                raise LoginFailed(f"AppLogin field {field!r} is not valid Unicode text")
        if message.get("info") is not None and not isinstance(message["info"], dict):
            raise LoginFailed("AppLogin field 'info' must be an object")
        ambiguous = protocol.ambiguous_field(message)
        if ambiguous is not None:
            held = protocol.forbidden_in(message, ambiguous)
            raise LoginFailed(
                f"AppLogin field {ambiguous!r} must not contain {held!r}: it would make the "
                "digest's field join ambiguous"
            )
        app = message.get("app") or ""
        if app not in self.apps:
            raise LoginFailed(f"App {quote(app)} is not served here")
        route_app = self.scope.get("url_route", {}).get("kwargs", {}).get("app")
        if route_app is not None and app != route_app:
            raise LoginFailed(f"App {quote(app)} is not served at this URL (only {route_app!r})")
        account = await self.get_app(app)
        if account is None:
            raise LoginFailed(f"App {quote(app)} is not configured on this server")
        if not protocol.verify_login(message, challenge, account.password, frame_text=frame):
            raise LoginFailed("wrong digest: check the App's password", wrong_digest=True)
        if not account.enabled:
            raise LoginFailed(f"App {quote(app)} is disabled")
        session = Session(
            app=account.name,
            domain=message.get("domain") or "",
            sip=message.get("sip") or "",
            guid=message.get("guid") or "",
            dn=message.get("dn") or "",
            info=message.get("info"),
            pbx_obj=message.get("pbxObj"),
            instance_domain=self._instance_domain(account),
            kind=protocol.login_kind(message),
            permissions=account.permissions,
            session_key=protocol.session_key(challenge, account.password),
            challenge=challenge,
        )
        await self._map_user(session)
        return session

    async def _map_user(self, session: Session) -> None:
        options = appws_settings()
        if not (options["MAP_USERS"] or options["REQUIRE_USER_ACCESS"]):
            return
        session.user = user = await self.get_user(session)
        if options["REQUIRE_USER_ACCESS"]:
            access = f"appws.open_{session.app}"
            if user is None or not await sync_to_async(user.has_perm)(access):
                raise LoginFailed(
                    f"user {quote(session.sip)} may not open App {quote(session.app)}"
                )
        if options["REQUIRE_USER_PERMISSIONS"]:
            granted: set[str] = (
                await sync_to_async(user.get_all_permissions)() if user is not None else set()
            )
            session.user_permissions = frozenset(granted)

    async def _check_build(self, message: dict[str, Any], frame: str) -> None:
        url = message.get("url")
        if not isinstance(url, str):
            await self.reply_error(message, "bad-request", "CheckBuild needs a string 'url'")
            return
        build = self.get_build()
        try:
            new_url = protocol.check_build_url(url, build) if build else None
        except ValueError:  # urlsplit refuses e.g. "http://[" (an unclosed IPv6 literal)
            await self.reply_error(message, "bad-request", "CheckBuild 'url' is not a URL")
            return
        await self.reply(message, {"url": new_url} if new_url else {})

    async def _keep_alive(self, message: dict[str, Any], frame: str) -> None:
        if self._keepalive_echo:
            await self.reply(message, {}, mt="KeepAlive")

    async def _app_info(self, message: dict[str, Any], frame: str) -> None:
        if self.session is None:
            await self.not_logged_in(message)
            return
        app = message.get("app", self.session.app)
        if not isinstance(app, str) or app not in self.apps:
            await self.reply_error(message, "unknown-app", "AppInfo names an App not served here")
            return
        await self.reply(message, await self.get_app_info(app))

    async def _pbx_info(self, message: dict[str, Any], frame: str) -> None:
        if self.session is None:
            await self.not_logged_in(message)
            return
        self.session.pbx_info = {k: v for k, v in message.items() if k not in ("mt", "src")}

    async def _app_check_login(self, message: dict[str, Any], frame: str) -> None:
        if self.session is None:
            await self.not_logged_in(message)
            return
        app, domain, challenge, digest = (
            message.get(key) for key in ("app", "domain", "challenge", "digest")
        )
        if not (
            isinstance(app, str)
            and isinstance(domain, str)
            and isinstance(challenge, str)
            and isinstance(digest, str)
        ):
            await self.reply_error(
                message, "bad-request", "AppCheckLogin needs string app, domain, challenge, digest"
            )
            return
        session = self.session
        own = await self.get_app(session.app)
        if own is None or app not in own.check_logins:
            await self.reply_error(
                message,
                "forbidden",
                f"App {quote(session.app)} may not check the password of App {quote(app)}: "
                f"add {quote(app)} to the check logins of App {quote(session.app)} (admin), "
                f'or to APPWS["APPS"][{quote(session.app)}]["check_logins"]',
            )
            return
        account = await self.get_app(app) if app in self.apps else None
        if account is None:
            await self.reply_error(
                message, "unknown-app", f"App {quote(app)} is not served or configured here"
            )
            return
        peer = self.peer_address()
        try:
            # The same failure count as AppLogin: a session is no way around it.
            slot = await throttle.reserve(peer)
        except throttle.Throttled as refusal:
            await self._end_check_logins(message, refusal.text, peer)
            return
        try:
            ok = protocol.verify_login(
                {"app": app, "domain": domain, "digest": digest}, challenge, account.password
            )
            blocked = False if ok else await slot.failed()
        finally:
            await slot.release()  # nothing after failed()
        await self.reply(message, {"ok": ok})
        if blocked:
            await self._end_check_logins(
                message, "too many failed logins from this address", peer, replied=True
            )

    async def _end_check_logins(
        self, message: Mapping[str, Any], text: str, peer: str, *, replied: bool = False
    ) -> None:
        login_logger.warning(
            "AppCheckLogin: %r; closing the session of App %r (sip %r) from %r",
            text,
            self.session.app if self.session else None,
            self.session.sip if self.session else None,
            peer,
        )
        if not replied:
            await self.reply(message, {"ok": False, "error": "throttled", "errorText": text})
        self._closed = True
        await self.close(code=THROTTLED_CLOSE_CODE, reason="too many failed logins")

    # -- changes made elsewhere --------------------------------------------

    async def appws_app_changed(self, event: Mapping[str, Any]) -> None:
        """Called when this session's App changed: refresh it, or end the session."""
        session = self.session
        if session is None or self._closed:
            return
        await cache.adelete(cache_key(session.app))  # this process's cache may be local
        account = await self.get_app(session.app)
        if account is None or not account.enabled:
            reason = "App disabled or removed"
            code = APP_WITHDRAWN_CLOSE_CODE
        elif protocol.session_key(session.challenge, account.password) != session.session_key:
            reason = "App password changed: log in again"
            code = LOGIN_FAILED_CLOSE_CODE
        else:
            session.permissions = account.permissions
            return
        login_logger.info("ending session of App %r (sip %r): %r", session.app, session.sip, reason)
        self._closed = True
        await self.close(code=code, reason=reason)

    async def appws_disconnect(self, event: Mapping[str, Any]) -> None:
        """Called when an administrator disconnects this session."""
        login_logger.info(
            "session of App %r (sip %r) disconnected by an administrator",
            self.session.app if self.session else None,
            self.session.sip if self.session else None,
        )
        self._closed = True
        await self.close(
            code=ADMIN_DISCONNECT_CLOSE_CODE, reason="disconnected by an administrator"
        )

    # -- helpers -----------------------------------------------------------

    def peer_address(self) -> str:
        """The client's address as the ASGI server reports it (``scope["client"]``)."""
        client = self.scope.get("client")
        return str(client[0]) if client else "unknown"

    def _instance_domain(self, account: AppAccount) -> str:
        if account.domain:
            return account.domain
        configured: str | None = appws_settings()["DOMAIN"]
        if configured:
            return configured
        for name, value in self.scope.get("headers", ()):
            if name == b"host":
                host, _port = split_domain_port(value.decode("latin-1"))
                return host
        return ""

    def _live_fields(self, session: Session) -> dict[str, Any]:
        cls = type(self)
        return {
            "channel_name": self.channel_name,
            "app_name": session.app,
            "sip": session.sip[:255],
            "domain": session.domain[:255],
            "dn": session.dn[:255],
            "user": session.user if getattr(session.user, "pk", None) else None,
            "login_kind": session.kind.value,
            "remote_address": self.peer_address()[:100],
            "service": f"{cls.__module__}.{cls.__qualname__}"[:255],
        }

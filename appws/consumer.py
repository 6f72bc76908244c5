"""The App Service consumer: handshake, dispatch, replies and subscriptions."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, ClassVar

from asgiref.typing import WebSocketDisconnectEvent
from channels.db import aclose_old_connections, database_sync_to_async
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.core.exceptions import ImproperlyConfigured
from django.http.request import split_domain_port

from . import protocol
from .conf import appws_settings, settings_app
from .exceptions import AppwsError, LoginFailed
from .handlers import Handler, collect_handlers
from .notifications import INDICATION_TYPE
from .session import AppAccount, Session
from .topics import group_name

logger = logging.getLogger("appws")
login_logger = logging.getLogger("appws.login")

#: Close code sent after a refused AppLogin.
LOGIN_FAILED_CLOSE_CODE = 4401

_STRING_LOGIN_FIELDS = (*protocol.LOGIN_FIELDS, "digest", "pbxObj")
_SHOWN_NAME = 80  # longest client-sent name quoted back in an errorText


def _quote(value: str) -> str:
    return repr(value if len(value) <= _SHOWN_NAME else value[:_SHOWN_NAME] + "...")


class AppWebsocketConsumer(AsyncJsonWebsocketConsumer):
    """Base class of an App Service: subclass it, set ``apps``, add ``@mt`` methods.

    Serves the AppWebsocket handshake (``AppChallenge``, ``AppLogin``,
    ``CheckBuild``, ``KeepAlive``), then dispatches each message by ``(api, mt)``
    to the handler marked with :func:`appws.mt`, in the order received.
    """

    #: Names of the Apps this service accepts logins for.
    apps: ClassVar[Sequence[str]] = ()
    #: Payload of ``AppInfoResult`` (everything but ``mt``/``src``).
    app_info: ClassVar[Mapping[str, Any]] = {
        "info": {"hidden": False, "apis": {}},
        "serviceInfo": {"apis": {}},
    }
    #: ``(api, mt) -> Handler``, collected when the class is created.
    handlers: ClassVar[dict[tuple[str | None, str], Handler]] = {}
    _apis: ClassVar[frozenset[str]] = frozenset()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if isinstance(cls.apps, str):
            raise TypeError(
                f"{cls.__qualname__}.apps must be a tuple of App names, e.g. ('notes',)"
            )
        cls.handlers = collect_handlers(cls)
        cls._apis = frozenset(api for api, _ in cls.handlers if api is not None)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.session: Session | None = None
        self._challenge: str | None = None
        self._closed = False
        # topic -> the src of each subscription to it (None: subscribed without src)
        self._subscriptions: dict[str, list[str | None]] = {}
        options = appws_settings()
        self._max_bytes: int = options["MAX_MESSAGE_BYTES"]
        self._keepalive_echo: bool = options["KEEPALIVE_ECHO"]
        self._group_prefix: str = options["GROUP_PREFIX"]

    # -- hooks -------------------------------------------------------------

    async def get_app(self, name: str) -> AppAccount | None:
        """Called at login: return App ``name`` with its password, or None if unknown.

        The default reads ``settings.APPWS["APPS"]``.
        """
        entry = settings_app(name)
        if entry is None:
            return None
        return AppAccount(
            name=name,
            password=entry["password"],
            domain=entry.get("domain"),
            permissions=frozenset(entry.get("permissions", ())),
        )

    async def get_app_info(self, app: str) -> Mapping[str, Any]:
        """Called on ``AppInfo``: return the ``AppInfoResult`` payload for ``app``."""
        return self.app_info

    def get_build(self) -> str | None:
        """Called on ``CheckBuild``: return the current build number, or None."""
        build: str | None = appws_settings()["BUILD"]
        return build

    async def logged_in(self) -> None:
        """Called after a successful login, once ``self.session`` is set."""

    # -- sending -----------------------------------------------------------

    @classmethod
    async def encode_json(cls, content: Mapping[str, Any]) -> str:
        return protocol.encode_message(content)

    async def reply(
        self, request: Mapping[str, Any], payload: Mapping[str, Any], *, mt: str | None = None
    ) -> None:
        """Send ``payload`` as the answer to ``request``: ``src`` and ``api`` echoed.

        The reply's ``mt`` is ``mt``, else ``payload["mt"]``, else the request's
        ``mt`` + ``"Result"``. A handler may call this several times.
        """
        message: dict[str, Any] = {"mt": mt or f"{request['mt']}Result", **payload}
        if mt:
            message["mt"] = mt
        if "api" in request:
            message["api"] = request["api"]
        if "src" in request:
            message["src"] = request["src"]
        await self.send_json(message)

    async def reply_error(
        self, request: Mapping[str, Any], code: str, text: str, *, mt: str | None = None
    ) -> None:
        """Answer ``request`` with ``error``/``errorText`` (``src`` echoed)."""
        await self.reply(request, {"error": code, "errorText": text}, mt=mt)

    async def _send_frame_error(self, error: protocol.FrameError) -> None:
        await self.send_json({"mt": "Error", "error": error.code, "errorText": error.text})

    # -- receiving ---------------------------------------------------------

    async def dispatch(self, message: Any) -> None:
        # Channels (>= 4.2) hops to a thread before every event to close stale
        # database connections. Frames and indications skip it: sync handlers
        # get clean connections from database_sync_to_async, and async ones
        # that use the ORM ask for it with @mt(..., db=True).
        kind = message["type"]
        if kind == "websocket.receive":
            await self.websocket_receive(message)
        elif kind == INDICATION_TYPE:
            await self.appws_indication(message)
        else:
            await super().dispatch(message)

    async def receive(
        self, text_data: str | None = None, bytes_data: bytes | None = None, **kwargs: Any
    ) -> None:
        if self._closed:
            return
        if text_data is None:
            await self._send_frame_error(protocol.binary_frame_error())
            return
        try:
            message = protocol.decode_frame(text_data, self._max_bytes)
        except protocol.FrameError as error:
            await self._send_frame_error(error)
            return
        await self.receive_message(message, text_data)

    async def receive_message(self, message: dict[str, Any], frame: str) -> None:
        """Route one decoded message: handshake first, then the handler registry."""
        mt: str = message["mt"]
        api: str | None = message.get("api")
        if api is None:
            builtin = _BUILTINS.get(mt)
            if builtin is not None:
                await builtin(self, message, frame)
                return
        if self.session is None:
            await self._not_logged_in(message)
            return
        handler = self.handlers.get((api, mt))
        if handler is None:
            if api is not None and api not in self._apis:
                await self.reply_error(
                    message, "unknown-api", f"this service has no api {_quote(api)}"
                )
            else:
                await self.reply_error(
                    message, "unknown-mt", f"this service does not handle mt {_quote(mt)}"
                )
            return
        await self._run_handler(handler, message)

    async def _not_logged_in(self, message: Mapping[str, Any]) -> None:
        await self.reply_error(
            message, "not-logged-in", "log in first: send AppChallenge, then AppLogin"
        )

    async def _run_handler(self, handler: Handler, message: dict[str, Any]) -> None:
        assert self.session is not None
        if not self.session.has_permission(handler.permission):
            await self.reply_error(
                message,
                "forbidden",
                f"App {_quote(self.session.app)} may not use {handler.mt}: "
                f"it lacks the permission {handler.permission}",
                mt=handler.reply,
            )
            return
        method = getattr(self, handler.attr)
        try:
            if handler.is_async:
                if handler.db:
                    await aclose_old_connections()
                result = await method(message)
            else:
                result = await database_sync_to_async(method)(message)
            if result is not None and not isinstance(result, Mapping):
                raise TypeError(
                    f"handler {type(self).__qualname__}.{handler.attr}() returned "
                    f"{type(result).__name__}; return a dict or None"
                )
        except AppwsError as error:
            await self.reply_error(message, error.code, error.text, mt=handler.reply)
            return
        except StopConsumer:
            raise
        except Exception:
            logger.exception(
                "handler %s.%s() failed on mt=%r", type(self).__qualname__, handler.attr, handler.mt
            )
            await self.reply_error(
                message, "internal", "the service failed to handle this message", mt=handler.reply
            )
            return
        if result is not None:
            await self.reply(message, result, mt=handler.reply if "mt" not in result else None)

    # -- handshake and other reserved message types ------------------------

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
        try:
            account = await self._check_login(message, challenge, frame)
        except LoginFailed as failure:
            login_logger.warning(
                "AppLogin refused: %s (app=%r sip=%r domain=%r from %s)",
                failure.text,
                message.get("app"),
                message.get("sip"),
                message.get("domain"),
                self._peer(),
            )
            await self.reply(message, {"ok": False, "errorText": failure.text})
            self._closed = True
            await self.close(code=LOGIN_FAILED_CLOSE_CODE)
            return
        assert challenge is not None
        info = message.get("info")
        self.session = Session(
            app=account.name,
            domain=message.get("domain") or "",
            sip=message.get("sip") or "",
            guid=message.get("guid") or "",
            dn=message.get("dn") or "",
            info=info,
            pbx_obj=message.get("pbxObj"),
            instance_domain=self._instance_domain(account),
            permissions=account.permissions,
            session_key=protocol.session_key(challenge, account.password),
        )
        login_logger.info(
            "AppLogin ok (app=%r sip=%r domain=%r from %s)",
            account.name,
            self.session.sip,
            self.session.domain,
            self._peer(),
        )
        await self.reply(message, {"ok": True, "domain": self.session.instance_domain})
        await self.logged_in()

    async def _check_login(
        self, message: Mapping[str, Any], challenge: str | None, frame: str
    ) -> AppAccount:
        if challenge is None:
            raise LoginFailed("no challenge: send AppChallenge before AppLogin")
        for field in _STRING_LOGIN_FIELDS:
            if message.get(field) is not None and not isinstance(message[field], str):
                raise LoginFailed(f"AppLogin field {field!r} must be a string")
        if message.get("info") is not None and not isinstance(message["info"], dict):
            raise LoginFailed("AppLogin field 'info' must be an object")
        app = message.get("app") or ""
        if app not in self.apps:
            raise LoginFailed(f"App {_quote(app)} is not served here")
        route_app = self.scope.get("url_route", {}).get("kwargs", {}).get("app")
        if route_app is not None and app != route_app:
            raise LoginFailed(f"App {_quote(app)} is not served at this URL (only {route_app!r})")
        account = await self.get_app(app)
        if account is None:
            raise LoginFailed(f"App {_quote(app)} is not configured on this server")
        if not protocol.verify_login(message, challenge, account.password, frame_text=frame):
            raise LoginFailed("wrong digest: check the App's password")
        return account

    async def _check_build(self, message: dict[str, Any], frame: str) -> None:
        url = message.get("url")
        if not isinstance(url, str):
            await self.reply_error(message, "bad-request", "CheckBuild needs a string 'url'")
            return
        build = self.get_build()
        new_url = protocol.check_build_url(url, build) if build else None
        await self.reply(message, {"url": new_url} if new_url else {})

    async def _keep_alive(self, message: dict[str, Any], frame: str) -> None:
        if self._keepalive_echo:
            await self.reply(message, {}, mt="KeepAlive")

    async def _app_info(self, message: dict[str, Any], frame: str) -> None:
        if self.session is None:
            await self._not_logged_in(message)
            return
        app = message.get("app", self.session.app)
        if not isinstance(app, str) or app not in self.apps:
            await self.reply_error(message, "unknown-app", "AppInfo names an App not served here")
            return
        await self.reply(message, await self.get_app_info(app))

    async def _pbx_info(self, message: dict[str, Any], frame: str) -> None:
        if self.session is None:
            await self._not_logged_in(message)
            return
        self.session.pbx_info = {k: v for k, v in message.items() if k not in ("mt", "src")}

    async def _app_check_login(self, message: dict[str, Any], frame: str) -> None:
        if self.session is None:
            await self._not_logged_in(message)
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
        account = await self.get_app(app) if app in self.apps else None
        ok = account is not None and protocol.verify_login(
            {"app": app, "domain": domain, "digest": digest}, challenge, account.password
        )
        await self.reply(message, {"ok": ok})

    # -- subscriptions -----------------------------------------------------

    async def subscribe(self, topic: str, request: Mapping[str, Any] | None = None) -> None:
        """Subscribe this session to ``topic``; indications carry ``request``'s ``src``.

        Subscribing again with another ``src`` adds a subscription; with the
        same ``src`` it changes nothing.
        """
        src = request.get("src") if request is not None else None
        sources = self._subscriptions.get(topic)
        if sources is None:
            await self._layer().group_add(group_name(topic, self._group_prefix), self.channel_name)
            sources = self._subscriptions[topic] = []
        if src not in sources:
            sources.append(src)

    async def unsubscribe(self, topic: str, request: Mapping[str, Any] | None = None) -> bool:
        """End the subscription to ``topic`` made with ``request``'s ``src``.

        Without ``request``, end every subscription to ``topic``. Return whether
        there was anything to end.
        """
        sources = self._subscriptions.get(topic)
        if sources is None:
            return False
        if request is not None:
            src = request.get("src")
            if src not in sources:
                return False
            sources.remove(src)
            if sources:
                return True
        del self._subscriptions[topic]
        await self._layer().group_discard(group_name(topic, self._group_prefix), self.channel_name)
        return True

    async def unsubscribe_all(self) -> None:
        """End every subscription of this session."""
        for topic in list(self._subscriptions):
            await self.unsubscribe(topic)

    @property
    def subscriptions(self) -> dict[str, tuple[str | None, ...]]:
        """Topic -> the ``src`` of each live subscription to it."""
        return {topic: tuple(sources) for topic, sources in self._subscriptions.items()}

    async def appws_indication(self, event: Mapping[str, Any]) -> None:
        """Called with an indication from :func:`appws.notify`: send it per subscription."""
        sources = self._subscriptions.get(event["topic"])
        if not sources or self._closed:
            return
        message = event["message"]
        for src in sources:
            await self.send_json(message if src is None else {**message, "src": src})

    def _layer(self) -> Any:
        if self.channel_layer is None:
            raise ImproperlyConfigured(
                "appws subscriptions need a channel layer: set CHANNEL_LAYERS "
                "(InMemoryChannelLayer for one process, channels_redis beyond)"
            )
        return self.channel_layer

    # -- connection --------------------------------------------------------

    async def websocket_disconnect(self, message: WebSocketDisconnectEvent) -> None:
        self._closed = True
        if self.channel_layer is not None:
            await self.unsubscribe_all()
        await super().websocket_disconnect(message)

    def _peer(self) -> str:
        client = self.scope.get("client")
        return f"{client[0]}:{client[1]}" if client else "unknown"

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


_Builtin = Callable[[AppWebsocketConsumer, dict[str, Any], str], Awaitable[None]]

_BUILTINS: dict[str, _Builtin] = {
    "AppChallenge": AppWebsocketConsumer._app_challenge,
    "AppLogin": AppWebsocketConsumer._app_login,
    "CheckBuild": AppWebsocketConsumer._check_build,
    "KeepAlive": AppWebsocketConsumer._keep_alive,
    "AppInfo": AppWebsocketConsumer._app_info,
    "PbxInfo": AppWebsocketConsumer._pbx_info,
    "AppCheckLogin": AppWebsocketConsumer._app_check_login,
}

"""The App Service consumer: dispatch, replies, subscriptions, session lifecycle."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, ClassVar

from asgiref.typing import WebSocketDisconnectEvent
from channels.db import aclose_old_connections, database_sync_to_async
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from channels.layers import get_channel_layer

from appws import live_sessions, protocol
from appws.conf import appws_settings
from appws.exceptions import AppwsError
from appws.layer.notify import INDICATION_TYPE
from appws.layer.outage import is_layer_outage
from appws.protocol.quoting import quote
from appws.server import prelogin, throttle
from appws.server.handlers import Handler, collect_handlers
from appws.server.limits import RateLimiter, origin_allowed
from appws.server.outgoing import FrameTooLarge, SendWindow, send_window_bytes
from appws.server.reserved import LOGIN_FAILED_CLOSE_CODE, Handshake
from appws.server.session import Session
from appws.server.subscriptions import Subscriptions

__all__ = ["LOGIN_FAILED_CLOSE_CODE", "AppWebsocketConsumer"]

#: Close codes for a client's behaviour. Servers may only send 1000 or codes
#: from 3000 up (daphne refuses 1008), so these mirror 1008 and 408 in 4xxx.
FLOOD_CLOSE_CODE = 4008
LOGIN_TIMEOUT_CLOSE_CODE = 4408
#: Handed more than its send budget (MAX_INDICATION_BYTES, SEND_WINDOW_BYTES):
#: mirrors 1013 "try again later"; clients reconnect with backoff.
SLOW_READER_CLOSE_CODE = 4013

logger = logging.getLogger("appws")


class AppWebsocketConsumer(Handshake, Subscriptions, AsyncJsonWebsocketConsumer):
    """Base class of an App Service: subclass it, set ``apps``, add ``@mt`` methods.

    Serves the AppWebsocket handshake (``AppChallenge``, ``AppLogin``,
    ``CheckBuild``, ``KeepAlive``), then dispatches each message by ``(api, mt)``
    to the handler marked with :func:`appws.mt`, in the order received.
    """

    #: Names of the Apps this service accepts logins for.
    apps: ClassVar[Sequence[str]] = ()
    #: Payload of ``AppInfoResult`` (everything but ``mt``/``src``) for Apps
    #: without a database row.
    app_info: ClassVar[Mapping[str, Any]] = Handshake.app_info
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
        #: Primary key of this session's LiveSession row, while there is one.
        self.live_session_pk: int | None = None
        self.live_session_fields: dict[str, Any] = {}
        #: time.time() of the last frame received.
        self.last_activity = 0.0
        self._options = options = appws_settings()
        self._max_bytes: int = options["MAX_MESSAGE_BYTES"]
        self._max_login_bytes: int = min(options["MAX_LOGIN_MESSAGE_BYTES"], self._max_bytes)
        self._max_login_containers: int = options["MAX_LOGIN_CONTAINERS"]
        self._login_budget_rate: float = options["LOGIN_BYTES_PER_SECOND"]
        self._login_budget_burst: int = 4 * self._max_login_bytes
        self._max_outgoing: int = options["MAX_OUTGOING_BYTES"]
        self._send_window = SendWindow(options["SEND_WINDOW_SECONDS"])
        self._slow_reader = False
        self._max_depth: int = options["MAX_DEPTH"]
        self._max_src: int = options["MAX_SRC_LENGTH"]
        self._keepalive_echo: bool = options["KEEPALIVE_ECHO"]
        self._group_prefix: str = options["GROUP_PREFIX"]
        self._rate = RateLimiter(options["RATE_LIMIT"], options["RATE_BURST"])
        self._messages_before_login = 0
        self._login_timer: asyncio.TimerHandle | None = None
        self._timeout_task: asyncio.Task[None] | None = None

    # -- sending -----------------------------------------------------------

    @classmethod
    async def encode_json(cls, content: Mapping[str, Any]) -> str:
        return protocol.encode_message(content)

    async def send_json(self, content: Any, close: bool = False) -> None:
        """Send one message; ``FrameTooLarge`` (nothing sent) above ``MAX_OUTGOING_BYTES``."""
        text, size = protocol.encode_frame(content)
        await self.send_frame(text, size, close=close)

    def check_size(self, size: int) -> None:
        """Raise ``FrameTooLarge`` for a frame of ``size`` bytes the server must not get."""
        if size > self._max_outgoing:
            raise FrameTooLarge(size, self._max_outgoing)

    async def send_frame(self, text: str, size: int, *, close: bool = False) -> bool:
        """Hand one encoded frame of ``size`` UTF-8 bytes to the server.

        Every message appws sends passes here. Raise ``FrameTooLarge`` when it is
        too large; return False, sending nothing, once the session is closed as a
        slow reader (now, because this frame exceeds its send window, or before).
        """
        self.check_size(size)
        if self._slow_reader:
            return False
        budget = send_window_bytes(self.session, self._options)
        if not self._send_window.take(size, budget):
            seconds = self._send_window.seconds
            await self.close_slow_reader(f"sent more than {budget} bytes within {seconds:g} s")
            return False
        await self.send(text_data=text, close=close)
        return True

    async def close_slow_reader(self, reason: str) -> None:
        """Close the socket (4013) and end the session's subscriptions at once.

        The session was handed more than its budget: whatever the client has not
        read stays in the server's memory, so nothing more is handed over.
        """
        if self._slow_reader:
            return
        self._slow_reader = True
        await self.close_for(SLOW_READER_CLOSE_CODE, f"slow reader: {reason}")
        if self.channel_layer is not None and self._subscriptions:
            await self.unsubscribe_all()

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
        try:
            await self.send_json(message)
        except FrameTooLarge as error:
            logger.warning(
                "reply %r of %s is %d bytes, over MAX_OUTGOING_BYTES (%d): "
                "answered with error too-large instead",
                message["mt"],
                type(self).__qualname__,
                error.size,
                error.limit,
            )
            refusal = {"mt": message["mt"], "error": error.code, "errorText": error.text}
            for key in ("api", "src"):
                if key in request:
                    refusal[key] = request[key]
            await self.send_json(refusal)

    async def reply_error(
        self, request: Mapping[str, Any], code: str, text: str, *, mt: str | None = None
    ) -> None:
        """Answer ``request`` with ``error``/``errorText`` (``src`` echoed)."""
        await self.reply(request, {"error": code, "errorText": text}, mt=mt)

    async def _send_frame_error(self, error: protocol.FrameError) -> None:
        await self.send_json({"mt": "Error", "error": error.code, "errorText": error.text})

    # -- receiving ---------------------------------------------------------

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        # Channels' own __call__, with a channel-layer receive that survives an
        # outage of the layer (Redis restarting) instead of ending the session.
        self.scope = scope
        layer = get_channel_layer(self.channel_layer_alias)
        self.channel_layer = layer  # None when no layer is configured
        self.base_send = send
        sources = [receive]
        if layer is not None:
            self.channel_name = await layer.new_channel()
            sources.append(self._receive_from_layer)
        try:
            with contextlib.suppress(StopConsumer):
                await self._dispatch_from(sources)
        finally:
            # Also when a handler's exception ended the consumer without a
            # disconnect event: no row or group membership may outlive it.
            await self._release()

    async def _dispatch_from(self, sources: list[Callable[[], Awaitable[Any]]]) -> None:
        """Dispatch events from every source one at a time, in the order they come.

        One long-lived reader per source hands events over a one-slot queue:
        the same order and back-pressure as Channels' await_many_dispatch,
        without a new task and an asyncio.wait() per event.
        """
        handoff: asyncio.Queue[Any] = asyncio.Queue(maxsize=1)

        async def read(source: Callable[[], Awaitable[Any]]) -> None:
            try:
                while True:
                    await handoff.put(await source())
            except asyncio.CancelledError:
                raise
            except BaseException as error:  # hand it to the dispatching task
                await handoff.put(_ReaderFailed(error))

        readers = [asyncio.ensure_future(read(source)) for source in sources]
        try:
            while True:
                event = await handoff.get()
                if isinstance(event, _ReaderFailed):
                    raise event.error
                await self.dispatch(event)
        finally:
            for reader in readers:
                reader.cancel()
            await asyncio.gather(*readers, return_exceptions=True)

    async def dispatch(self, message: Any) -> None:
        # Channels (>= 4.2) hops to a thread before every event to close stale
        # database connections. Frames and indications skip it: sync handlers
        # get clean connections from database_sync_to_async, and async ones
        # that use the ORM ask for it with @mt(..., db=True).
        if message["type"] == "websocket.receive":
            await self.websocket_receive(message)
        elif message["type"] == INDICATION_TYPE:
            await self.appws_indication(message)
        else:
            await super().dispatch(message)

    async def receive(
        self, text_data: str | None = None, bytes_data: bytes | None = None, **kwargs: Any
    ) -> None:
        if self._closed:
            return
        self.last_activity = time.time()
        if self.session is None:
            self._messages_before_login += 1
            if self._messages_before_login > self._options["MAX_MESSAGES_BEFORE_LOGIN"]:
                await self.close_for(FLOOD_CLOSE_CODE, "too many messages before login")
                return
        allowed = self._rate.allow()
        if not allowed and self._rate.flooding:
            await self.close_for(FLOOD_CLOSE_CODE, "message flood")
            return
        if text_data is None:
            await self._send_frame_error(protocol.binary_frame_error())
            return
        # Until a login succeeds the sender may know no password: parse less, and
        # share one budget with every other connection that has not logged in.
        before_login = self.session is None
        # A frame over the size limit is refused by its length alone: it costs no budget.
        if before_login and self._login_budget_rate and len(text_data) <= self._max_login_bytes:
            budget = prelogin.budget(self._login_budget_rate, self._login_budget_burst)
            await budget.spend(len(text_data), throttle.throttle_key(self.peer_address()))
            if self._closed:  # the login deadline passed while it waited
                return
        try:
            message = protocol.decode_frame(
                text_data,
                self._max_login_bytes if before_login else self._max_bytes,
                max_depth=self._max_depth,
                max_src_length=self._max_src,
                max_containers=self._max_login_containers if before_login else None,
                before_login=before_login,
            )
        except protocol.FrameError as error:
            await self._send_frame_error(error)
            return
        if not allowed:
            await self.reply_error(
                message,
                "rate-limited",
                f"more than {self._rate.rate:g} messages per second: slow down",
            )
            return
        await self.receive_message(message, text_data)

    async def close_for(self, code: int, reason: str) -> None:
        """Close the socket because of the client's behaviour, and say so in the log."""
        logger.warning(
            "closing %s connection from %r (code %d): %r",
            type(self).__qualname__,
            self.peer_address(),
            code,
            reason,
        )
        self._closed = True
        self.stop_login_timer()
        await self.close(code=code, reason=reason)

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
            await self.not_logged_in(message)
            return
        handler = self.handlers.get((api, mt))
        if handler is None:
            if api is not None and api not in self._apis:
                await self.reply_error(
                    message, "unknown-api", f"this service has no api {quote(api)}"
                )
            else:
                await self.reply_error(
                    message, "unknown-mt", f"this service does not handle mt {quote(mt)}"
                )
            return
        await self._run_handler(handler, message)

    async def not_logged_in(self, message: Mapping[str, Any]) -> None:
        """Answer a message that needs a login on a connection without one."""
        await self.reply_error(
            message, "not-logged-in", "log in first: send AppChallenge, then AppLogin"
        )

    async def _run_handler(self, handler: Handler, message: dict[str, Any]) -> None:
        assert self.session is not None
        if not self.session.has_permission(handler.permission):
            who = (
                f"App {quote(self.session.app)}"
                if handler.permission not in self.session.permissions
                else f"user {quote(self.session.sip)}"
            )
            await self.reply_error(
                message,
                "forbidden",
                f"{who} may not use {handler.mt}: it lacks the permission {handler.permission}",
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
        except Exception as error:
            if is_layer_outage(error):
                await self.reply_error(
                    message,
                    "unavailable",
                    "a service this handler needs is unreachable for a moment: try again",
                    mt=handler.reply,
                )
                return
            logger.exception(
                "handler %s.%s() failed on mt=%r", type(self).__qualname__, handler.attr, handler.mt
            )
            await self.reply_error(
                message, "internal", "the service failed to handle this message", mt=handler.reply
            )
            return
        if result is not None:
            try:
                await self.reply(message, result, mt=handler.reply if "mt" not in result else None)
            except (TypeError, ValueError):  # not JSON: a set, an object, inf, ...
                logger.exception(
                    "handler %s.%s() returned a reply that is not JSON",
                    type(self).__qualname__,
                    handler.attr,
                )
                await self.reply_error(
                    message,
                    "internal",
                    "the service failed to handle this message",
                    mt=handler.reply,
                )

    # -- connection --------------------------------------------------------

    async def websocket_connect(self, message: Any) -> None:
        origin = self._header(b"origin")
        if origin is not None and not origin_allowed(origin, self._options["ALLOWED_ORIGINS"]):
            logger.warning(
                "WebSocket from origin %r refused (path %r, from %r): add its host to "
                "ALLOWED_HOSTS or the origin to APPWS['ALLOWED_ORIGINS']",
                origin,
                self.scope.get("path"),
                self.peer_address(),
            )
            self._closed = True
            await self.close()  # before accept: the handshake is refused
            return
        await super().websocket_connect(message)
        timeout = self._options["LOGIN_TIMEOUT"]
        if timeout and not self._closed:
            self._login_timer = asyncio.get_running_loop().call_later(
                timeout, self._login_timed_out
            )

    def _login_timed_out(self) -> None:
        if self.session is None and not self._closed:
            self._timeout_task = asyncio.ensure_future(
                self.close_for(LOGIN_TIMEOUT_CLOSE_CODE, "login timeout")
            )

    def stop_login_timer(self) -> None:
        """Cancel the login deadline (logged in, or closing)."""
        if self._login_timer is not None:
            self._login_timer.cancel()
            self._login_timer = None

    def _header(self, name: bytes) -> str | None:
        for key, value in self.scope.get("headers", ()):
            if key == name:
                return str(value.decode("latin-1"))
        return None

    async def websocket_disconnect(self, message: WebSocketDisconnectEvent) -> None:
        await self._release()
        await super().websocket_disconnect(message)

    async def _release(self) -> None:
        """Give back what the session holds: timers, subscriptions, its live row."""
        self._closed = True
        self.stop_login_timer()
        self._stop_group_refresh()
        if self.channel_layer is not None and self._subscriptions:
            await self.unsubscribe_all()
        if self.live_session_pk is not None:
            await live_sessions.unregister(self)


class _ReaderFailed:
    """An exception raised while waiting for events, on its way to the dispatcher."""

    __slots__ = ("error",)

    def __init__(self, error: BaseException) -> None:
        self.error = error


_Builtin = Callable[[AppWebsocketConsumer, dict[str, Any], str], Awaitable[None]]

_BUILTINS: dict[str, _Builtin] = {
    "AppChallenge": Handshake._app_challenge,
    "AppLogin": Handshake._app_login,
    "CheckBuild": Handshake._check_build,
    "KeepAlive": Handshake._keep_alive,
    "AppInfo": Handshake._app_info,
    "PbxInfo": Handshake._pbx_info,
    "AppCheckLogin": Handshake._app_check_login,
}

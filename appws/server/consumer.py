"""The App Service consumer: a session's state, its parts, and the one way it ends.

The consumer *holds* its parts: a :class:`~appws.server.frames.FrameGate` for
incoming frames, its :class:`~appws.server.subscriptions.Subscriptions`, its
live-session record; :mod:`appws.server.dispatch` routes each message to a
reserved type or a handler. Every close path goes through :meth:`end`.

Long because it is the class services subclass: each public method a handler
may call (reply, subscribe, end, ...) and each event Channels delivers lives
here, most of them a few lines handing over to the part that does the work.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from typing import Any, ClassVar

from asgiref.typing import WebSocketDisconnectEvent
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from channels.layers import get_channel_layer

from appws import protocol
from appws.conf import get_settings
from appws.layer import events
from appws.protocol import CloseCode
from appws.server import dispatch, reactions, replies, reserved, shutdown
from appws.server.connection import ConnectionState, LogLine
from appws.server.frames import FrameGate
from appws.server.handlers import Handler, collect_handlers
from appws.server.hooks import ServiceHooks
from appws.server.limits import origin_allowed
from appws.server.outgoing import FrameTooLarge, SendWindow, send_window_bytes
from appws.server.pump import pump
from appws.server.scope import ClientScope
from appws.server.session import Session
from appws.server.subscriptions import EVERY_SRC, Subscriptions
from appws.server.tracking import LiveTracking, live_fields

__all__ = ["AppWebsocketConsumer"]

logger = logging.getLogger("appws")


class AppWebsocketConsumer(ServiceHooks, AsyncJsonWebsocketConsumer):
    """Base class of an App Service: subclass it, set ``apps``, add ``@mt`` methods.

    Serves the AppWebsocket handshake (``AppChallenge``, ``AppLogin``,
    ``CheckBuild``, ``KeepAlive``), then dispatches each message by ``(api, mt)``
    to the handler marked with :func:`appws.mt`, in the order received. The hooks
    it calls are those of :class:`~appws.server.hooks.ServiceHooks`.
    """

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
        #: Who is logged in on this connection, once ``AppLogin`` succeeded.
        self.session: Session | None = None
        self.challenge: str | None = None
        self._state = ConnectionState.CONNECTING
        self._released: asyncio.Event | None = None  # set once given back
        self.options = options = get_settings()
        self._gate = FrameGate(options)
        self._max_outgoing: int = options.max_outgoing_bytes
        self._send_window = SendWindow(options.send_window_seconds)
        self._subscriptions = Subscriptions(self, None, "", options, type(self).__qualname__)
        self._tracking = LiveTracking(options.track_sessions)
        self.where = ClientScope({})
        self._login_timer: asyncio.TimerHandle | None = None
        self._timeout_task: asyncio.Task[None] | None = None

    # -- the session's state -------------------------------------------------

    @property
    def state(self) -> ConnectionState:
        """Where this session is in its life."""
        return self._state

    async def start_session(self, session: Session) -> bool:
        """Enter the logged-in state as ``session`` (``AppLogin`` succeeded).

        False, changing nothing, when the session ended meanwhile (login deadline).
        """
        if self._state is ConnectionState.CLOSED:
            return False
        self.session = session
        self._state = ConnectionState.LOGGED_IN
        self._stop_login_timer()
        # Before the reply: once a client is logged in, admins and App changes
        # must already find its row.
        fields = live_fields(session, self.channel_name, self.peer, type(self))
        await self._tracking.start(session, fields)
        return True

    async def end(
        self, code: int | None, reason: str | None = None, *, log: LogLine | None = None
    ) -> None:
        """End this session: say why in the log, close the socket, release what it holds.

        Every close path of appws comes here; only the first call does anything.
        ``code`` None before the handshake was accepted refuses it (HTTP 403).
        ``log`` is the line that says why; by default a warning naming ``reason``.
        """
        if self._state is ConnectionState.CLOSED:
            return
        self._state = ConnectionState.CLOSED
        self._stop_login_timer()
        if log is None:
            log = LogLine(
                logger,
                logging.WARNING,
                "closing %s connection from %r (code %d): %r",
                type(self).__qualname__,
                self.peer,
                0 if code is None else code,
                reason,
            )
        log.emit()
        if code is None:
            await self.close()
        else:
            # A plain int: daphne's WebSocket library refuses int subclasses (CloseCode).
            await self.close(code=int(code), reason=reason)
        await self._release()

    async def end_slow_reader(self, reason: str) -> None:
        """End the session (4013): it was handed more than its send budget.

        Whatever the client has not read stays in the server's memory, so
        nothing more is handed over.
        """
        await self.end(CloseCode.SLOW_READER, f"slow reader: {reason}")

    async def _release(self) -> None:
        """Give back what the session holds, once: timers, subscriptions, its live row.

        Every caller returns once it is given back: ``end()`` and the client's
        disconnect often release at the same time, and a graceful stop counts a
        session as ended only when its groups are left.
        """
        self._state = ConnectionState.CLOSED
        if self._released is not None:
            await self._released.wait()
            return
        self._released = asyncio.Event()
        try:
            self._stop_login_timer()
            await self._subscriptions.close()
            await self._tracking.stop()
        finally:
            shutdown.unregister(self)
            self._released.set()

    # -- sending -----------------------------------------------------------

    @classmethod
    async def encode_json(cls, content: Mapping[str, Any]) -> str:
        return protocol.encode_message(content)

    async def send_json(self, content: Any, close: bool = False) -> None:
        """Send one message; ``FrameTooLarge`` (nothing sent) above ``MAX_OUTGOING_BYTES``."""
        text, size = protocol.encode_frame(content)
        if await self.send_frame(text, size) and close:
            log = LogLine(
                logger, logging.DEBUG, "%s closed its connection", type(self).__qualname__
            )
            await self.end(1000, log=log)

    def check_size(self, size: int) -> None:
        """Raise ``FrameTooLarge`` for a frame of ``size`` bytes the server must not get."""
        if size > self._max_outgoing:
            raise FrameTooLarge(size, self._max_outgoing)

    async def send_frame(self, text: str, size: int) -> bool:
        """Hand one encoded frame of ``size`` UTF-8 bytes to the server.

        Every message appws sends passes here. Raise ``FrameTooLarge`` when it is
        too large; return False, sending nothing, once the session has ended
        (now, because this frame exceeds its send window, or before).
        """
        self.check_size(size)
        if self._state is ConnectionState.CLOSED:
            return False
        budget = send_window_bytes(self.session, self.options)
        if not self._send_window.take(size, budget):
            seconds = self._send_window.seconds
            await self.end_slow_reader(f"sent more than {budget} bytes within {seconds:g} s")
            return False
        await self.send(text_data=text)
        return True

    async def reply(
        self, request: Mapping[str, Any], payload: Mapping[str, Any], *, mt: str | None = None
    ) -> None:
        """Send ``payload`` as the answer to ``request``: ``src`` and ``api`` echoed.

        The reply's ``mt`` is ``mt``, else ``payload["mt"]``, else the request's
        ``mt`` + ``"Result"``. A handler may call this several times.
        """
        message = replies.answer(request, payload, mt)
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
            await self.send_json(replies.too_large(request, message["mt"], error))

    async def reply_error(
        self, request: Mapping[str, Any], code: str, text: str, *, mt: str | None = None
    ) -> None:
        """Answer ``request`` with ``error``/``errorText`` (``src`` echoed)."""
        await self.reply(request, {"error": code, "errorText": text}, mt=mt)

    # -- receiving ---------------------------------------------------------

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        # Channels' own __call__, with a channel-layer receive that survives an
        # outage of the layer (Redis restarting) instead of ending the session.
        self.scope = scope
        self.where = ClientScope(scope)
        layer = get_channel_layer(self.channel_layer_alias)
        # None when no layer is configured, which Channels' annotation leaves out.
        self.channel_layer = layer  # type: ignore[assignment]
        self.base_send = send
        sources = [receive]
        if layer is not None:
            self.channel_name = await layer.new_channel()
            self._subscriptions = Subscriptions(
                self,
                layer,
                self.channel_name,
                self.options,
                type(self).__qualname__,
                membership=self._tracking,
            )
            self._tracking.rejoin = self._subscriptions.rejoin
            sources.append(self._subscriptions.receive)
        shutdown.register(self)  # a graceful stop of the process ends this session
        try:
            with contextlib.suppress(StopConsumer):
                await pump(sources, self.dispatch)
        finally:
            # Also when a handler's exception ended the consumer without a
            # disconnect event: no row or group membership may outlive it.
            await self._release()

    async def dispatch(self, message: Any) -> None:
        # Channels (>= 4.2) hops to a thread before every event to close stale
        # database connections. Frames and indications skip it: sync handlers
        # get clean connections from database_sync_to_async, and async ones
        # that use the ORM ask for it with @mt(..., db=True).
        if message["type"] == "websocket.receive":
            await self.websocket_receive(message)
        elif message["type"] == events.INDICATION:
            await self.appws_indication(message)
        else:
            await super().dispatch(message)

    async def receive(
        self, text_data: str | None = None, bytes_data: bytes | None = None, **kwargs: Any
    ) -> None:
        if self._state is ConnectionState.CLOSED:
            return
        self._tracking.touch()
        logged_in = self.session is not None
        closing = self._gate.count(logged_in)
        if closing is not None:
            await self.end(CloseCode.FLOOD, closing)
            return
        if text_data is None:
            await self._send_frame_error(protocol.binary_frame_error())
            return
        if not logged_in:
            await self._gate.wait_for_budget(text_data, self.peer)
            if self.state is ConnectionState.CLOSED:  # the login deadline passed meanwhile
                return
        try:
            message = self._gate.decode(text_data, logged_in)
        except protocol.FrameError as error:
            await self._send_frame_error(error)
            return
        if self._gate.rate_limited:
            rate = self._gate.rate.rate
            await self.reply_error(
                message, "rate-limited", f"more than {rate:g} messages per second: slow down"
            )
            return
        await self.receive_message(message, text_data)

    async def receive_message(self, message: dict[str, Any], frame: str) -> None:
        """Route one decoded message: reserved types first, then the handler registry."""
        await dispatch.route(self, message, frame, self.handlers, self._apis)

    async def _send_frame_error(self, error: protocol.FrameError) -> None:
        answer = {"mt": reserved.ANSWER_TO_UNREADABLE, "error": error.code, "errorText": error.text}
        await self.send_json(answer)

    # -- subscriptions -----------------------------------------------------

    async def subscribe(self, topic: str, request: Mapping[str, Any] | None = None) -> None:
        """Subscribe this session to ``topic``; indications carry ``request``'s ``src``.

        Subscribing again with another ``src`` adds a subscription; with the
        same ``src`` it changes nothing.
        """
        await self._subscriptions.add(topic, request.get("src") if request is not None else None)

    async def unsubscribe(self, topic: str, request: Mapping[str, Any] | None = None) -> bool:
        """End the subscription to ``topic`` made with ``request``'s ``src``.

        Without ``request``, end every subscription to ``topic``. Return whether
        there was anything to end.
        """
        src = request.get("src") if request is not None else EVERY_SRC
        return await self._subscriptions.remove(topic, src)

    async def unsubscribe_all(self) -> None:
        """End every subscription of this session."""
        await self._subscriptions.remove_all()

    @property
    def subscriptions(self) -> dict[str, tuple[str | None, ...]]:
        """Topic -> the ``src`` of each live subscription to it."""
        return self._subscriptions.snapshot()

    # -- channel-layer events ----------------------------------------------

    async def appws_indication(self, event: dict[str, Any]) -> None:
        """Called with an indication from :func:`appws.notify`: send it per subscription.

        A copy over ``MAX_OUTGOING_BYTES`` is dropped; copies beyond
        ``MAX_INDICATION_BYTES`` together close the session as a slow reader.
        """
        await self._subscriptions.deliver(event)

    async def appws_app_changed(self, event: Mapping[str, Any]) -> None:
        """Called when this session's App changed: refresh it, or end the session."""
        await reactions.app_changed(self)

    async def appws_disconnect(self, event: Mapping[str, Any]) -> None:
        """Called when an administrator disconnects this session."""
        await reactions.admin_disconnect(self)

    # -- connection --------------------------------------------------------

    async def websocket_connect(self, message: Any) -> None:
        origin = self.where.header(b"origin")
        if origin is not None and not origin_allowed(origin, self.options.allowed_origins):
            log = LogLine(
                logger,
                logging.WARNING,
                "WebSocket from origin %r refused (path %r, from %r): add its host to "
                "ALLOWED_HOSTS or the origin to APPWS['ALLOWED_ORIGINS']",
                origin,
                self.where.path,
                self.peer,
            )
            await self.end(None, log=log)  # before accept: the handshake is refused
            return
        await super().websocket_connect(message)
        if self._state is ConnectionState.CONNECTING:
            self._state = ConnectionState.OPEN
        if shutdown.stopping():  # accepted to say so: the client reconnects elsewhere
            await shutdown.end_for_restart(self)
            return
        timeout = self.options.login_timeout
        if timeout and self._state is ConnectionState.OPEN:
            loop = asyncio.get_running_loop()
            self._login_timer = loop.call_later(timeout, self._login_timed_out)

    def _login_timed_out(self) -> None:
        if self._state is ConnectionState.OPEN:
            self._timeout_task = asyncio.ensure_future(
                self.end(CloseCode.LOGIN_TIMEOUT, "login timeout")
            )

    def _stop_login_timer(self) -> None:
        if self._login_timer is not None:
            self._login_timer.cancel()
            self._login_timer = None

    async def websocket_disconnect(self, message: WebSocketDisconnectEvent) -> None:
        await self._release()
        await super().websocket_disconnect(message)

    # -- where the connection comes from -------------------------------------

    @property
    def peer(self) -> str:
        """The client's address as the ASGI server reports it (``scope["client"]``)."""
        return self.where.peer

    @property
    def route_app(self) -> str | None:
        """The App named by the route this socket came in on (``service_urls``)."""
        return self.where.route_app

    @property
    def host(self) -> str:
        """The Host header the client sent ("" without one)."""
        return self.where.host

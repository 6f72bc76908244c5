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
from collections.abc import Callable, Collection, Coroutine, Mapping
from typing import Any, ClassVar

from asgiref.typing import WebSocketDisconnectEvent
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncJsonWebsocketConsumer, AsyncWebsocketConsumer
from channels.layers import get_channel_layer

from appws import protocol
from appws.conf import get_settings
from appws.layer import events
from appws.protocol import CloseCode
from appws.server import dispatch, features, reactions, remote, replies, shutdown, values
from appws.server.connection import ConnectionState, LogLine
from appws.server.frames import FrameGate
from appws.server.handlers import Handler, collect_handlers
from appws.server.hooks import ServiceHooks
from appws.server.intake import Intake
from appws.server.limits import origin_allowed
from appws.server.login import finds_user_later
from appws.server.outgoing import FrameTooLarge, SendWindow, send_window_bytes
from appws.server.pbxlife import PbxLife
from appws.server.peer import PeerListener, PeerRequests
from appws.server.peersubscription import PeerSubscription
from appws.server.pump import pump
from appws.server.scope import ClientScope
from appws.server.session import Session
from appws.server.subscriptions import EVERY_SRC, Subscriptions
from appws.server.tasks import SessionTasks
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
    #: The class has Channels' ``connect()``/``disconnect()`` hooks of its own: they get
    #: Channels' database clean-up hop around them, as in any Channels consumer.
    _own_channels_hooks: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if isinstance(cls.apps, str):
            raise TypeError(
                f"{cls.__qualname__}.apps must be a tuple of App names, e.g. ('notes',)"
            )
        cls.handlers = collect_handlers(cls)
        cls._apis = frozenset(api for api, _ in cls.handlers if api is not None)
        cls._own_channels_hooks = (
            cls.connect is not AsyncWebsocketConsumer.connect
            or cls.disconnect is not AsyncWebsocketConsumer.disconnect
        )

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
        self._peer = PeerRequests(self, options)
        self._tasks = SessionTasks(type(self).__qualname__)
        self._pbx = PbxLife(self._tasks)
        self._intake = Intake(self, self._gate, self._peer, self._tracking.touch)
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
        if session.kind is protocol.LoginKind.PBX:
            own = session.pbx_rate_limit  # the App's, over the site's; 0: none
            rate = self.options.pbx_rate_limit if own is None else own
            self._gate.limit_rate(rate or None)
            self._peer.apis = frozenset()  # none until its PbxInfo names them
        # Before the reply: once a client is logged in, admins and App changes
        # must already find its row.
        fields = live_fields(session, self.channel_name, self.peer, type(self))
        await self._tracking.start(session, fields, find_user=finds_user_later(self, session))
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
            self._peer.close()  # every request waiting for the peer fails now
            self._tasks.cancel()
            await self._pbx.disconnected(self)
            await self._subscriptions.close()
            await self._tracking.stop()
        finally:
            shutdown.unregister(self)
            self._released.set()

    # -- sending -----------------------------------------------------------

    @classmethod
    async def encode_json(cls, content: Mapping[str, Any]) -> str:
        return values.encode_message(content)

    async def send_json(self, content: Any, close: bool = False) -> None:
        """Send one message; ``FrameTooLarge`` (nothing sent) above ``MAX_OUTGOING_BYTES``."""
        text, size = values.encode_frame(content)
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
        sources = [(receive, self._intake.socket_event)]
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
            sources.append((self._subscriptions.receive, self._intake.channel_event))
        shutdown.register(self)  # a graceful stop of the process ends this session
        try:
            with contextlib.suppress(StopConsumer):
                await pump(sources, self.dispatch, self.options.max_queued_messages)
        finally:
            # Also when a handler's exception ended the consumer without a
            # disconnect event: no row or group membership may outlive it.
            await self._release()

    async def dispatch(self, message: Any) -> None:
        # Channels (>= 4.2) hops to a thread before every event to close stale
        # database connections. Frames and indications skip it: sync handlers
        # get clean connections from database_sync_to_async, and async ones
        # that use the ORM ask for it with @mt(..., db=True).
        # Opening and closing skip it too unless the class has Channels' hooks of its
        # own: appws's part of them uses the database only through
        # database_sync_to_async. (With TRACK_SESSIONS the hop queued behind the
        # live-session writes in the one database thread.)
        kind = message["type"]
        if kind == "websocket.receive":
            await self.websocket_receive(message)
        elif kind == events.INDICATION:
            await self.appws_indication(message)
        elif kind == "websocket.connect" and not self._own_channels_hooks:
            await self.websocket_connect(message)
        elif kind == "websocket.disconnect" and not self._own_channels_hooks:
            await self.websocket_disconnect(message)
        else:
            await super().dispatch(message)

    async def receive(
        self, text_data: str | None = None, bytes_data: bytes | None = None, **kwargs: Any
    ) -> None:
        # Frames before login come here, one at a time; later ones go the reader's
        # way (appws/server/intake.py): both take the same steps.
        job = await self._intake.frame(text_data, bytes_data)
        if job is not None:
            await job.run()

    def handles(self, api: str | None, mt: str) -> bool:
        """Whether an ``@mt`` handler is registered for ``(api, mt)``."""
        return (api, mt) in self.handlers

    async def receive_message(self, message: dict[str, Any], frame: str) -> None:
        """Route one decoded message: reserved types first, then the handler registry."""
        await dispatch.route(self, message, frame, self.handlers, self._apis)

    def note_dropped(self, kind: str, message: Mapping[str, Any] | None) -> None:
        self._intake.drops.note(self.peer, kind, message)

    # -- requests to the peer ------------------------------------------------

    async def request(
        self, message: Mapping[str, Any], *, api: str, timeout: float | None = None
    ) -> dict[str, Any]:
        """Send ``message`` to the peer (the PBX) with ``api`` and return its ``<mt>Result``.

        appws gives it a ``src`` of its own. Raises ``PeerError`` when the reply carries
        ``error``/``errorText`` or ``err``, ``PeerTimeout`` after ``timeout`` seconds
        (default ``PEER_REQUEST_TIMEOUT``), ``ApiNotEnabled`` at once for an API the PBX
        did not enable, ``TooManyRequests`` beyond ``MAX_PEER_REQUESTS``, and
        ``SessionEnded`` when the session ends first.
        """
        return await self._peer.request(message, api, timeout)

    async def send_peer(self, message: Mapping[str, Any], *, api: str) -> None:
        """Send ``message`` to the peer with ``api``, awaiting nothing (its own ``src``, if any)."""
        src = message.get("src")
        await self._peer.send(message, api, src if isinstance(src, str) else None)

    def subscribe_peer(
        self, message: Mapping[str, Any], *, api: str, timeout: float | None = None
    ) -> PeerSubscription:
        """Send ``message`` (when first iterated) and iterate what the peer sends back for it.

        The result comes first (an error in it raises ``PeerError``; none within
        ``timeout`` raises ``PeerTimeout``), then every message with its ``api`` and
        ``src``. More than ``PEER_SUBSCRIPTION_QUEUE`` unread ends it with
        ``PeerSubscriptionOverflow``; the session ending, with ``SessionEnded``.
        """
        return self._peer.subscribe(message, api, timeout)

    def listen_peer(
        self, api: str, mts: Collection[str], push: Callable[[dict[str, Any]], None]
    ) -> PeerListener:
        """Hand every later message of ``api`` whose ``mt`` is in ``mts`` to ``push``.

        For what the peer sends unasked, or with a ``src`` of its own (a replication's
        live updates, incoming calls), once no request or peer subscription took it.
        ``push`` runs in the session's reader and must not block; ``close()`` the
        listener to stop it (the session's end does).
        """
        return self._peer.listen(api, mts, push)

    def start_task(self, work: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None] | None:
        """Run ``work`` beside the handlers; it is cancelled when the session ends.

        None (and ``work`` closed) when the session has ended already.
        """
        return self._tasks.spawn(work, name)

    async def start_pbx(self, pbx: protocol.PbxInfo) -> None:
        self._peer.enable(pbx.apis)
        await self._pbx.connected(self, pbx)

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

    async def appws_pbx_request(self, event: dict[str, Any]) -> None:
        """Called with a request for this session's PBX from another process (``appws.pbx``)."""
        self._tasks.spawn(remote.serve(self, self.channel_layer, event), "pbx_request")

    async def appws_pbx_replaced(self, event: Mapping[str, Any]) -> None:
        """Called when a newer connection of this session's PBX sent its ``PbxInfo``."""
        await reactions.pbx_replaced(self)

    async def appws_feature(self, event: Mapping[str, Any]) -> None:
        """Called with an event for a server feature; in the channel's reader, in order."""
        if self.state is ConnectionState.LOGGED_IN:
            await features.deliver_event(self, event)

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
        if self._own_channels_hooks:
            await super().websocket_disconnect(message)  # the hook, then Channels' hop
        for group in self.groups:  # what Channels' websocket_disconnect does, no hop
            await self.channel_layer.group_discard(group, self.channel_name)
        raise StopConsumer()

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

"""Requests a session sends to its peer (the PBX), and the replies routed back to them.

The service is the client here (PBX connections, PROTOCOL of the innovaphone APIs):
it sends a message with an ``api`` and a ``src`` appws chooses, and the peer answers
``<mt>Result`` with the same ``api`` and ``src``. :class:`PeerRequests` keeps what
waits for an answer; the session's reader hands it every message first
(:meth:`PeerRequests.deliver`), so that a reply reaches a handler awaiting it while
that handler still runs.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable, Collection, Mapping
from typing import Any

from appws.conf import AppwsSettings
from appws.exceptions import (
    ApiNotEnabled,
    PeerError,
    PeerTimeout,
    SessionEnded,
    TooManyRequests,
)
from appws.server import values
from appws.server.connection import Sender
from appws.server.peersubscription import PeerSubscription, reply_error

#: Prefix of the ``src`` of every request appws sends: a peer's own requests use others.
SRC_PREFIX = "appws."


class _Request:
    __slots__ = ("future", "result_mt")

    def __init__(self, result_mt: str) -> None:
        self.result_mt = result_mt
        self.future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()


class PeerListener:
    """Messages of one ``api`` with one of ``mts`` that no request or subscription takes.

    ``push`` is called in the session's reader, in arrival order: it must not block
    (put the message on a queue of its own). :meth:`close` stops it.
    """

    __slots__ = ("_owner", "api", "mts", "push")

    def __init__(
        self,
        owner: PeerRequests,
        api: str,
        mts: frozenset[str],
        push: Callable[[dict[str, Any]], None],
    ) -> None:
        self._owner = owner
        self.api = api
        self.mts = mts
        self.push = push

    def close(self) -> None:
        """Stop handing messages to ``push``."""
        self._owner.unlisten(self)


class PeerRequests:
    """One session's requests to its peer: sending, waiting, routing the answers back."""

    __slots__ = (
        "_counter",
        "_ended",
        "_limit",
        "_listeners",
        "_pbx_info_seen",
        "_queue_limit",
        "_requests",
        "_sender",
        "_subscriptions",
        "_timeout",
        "apis",
    )

    def __init__(self, sender: Sender, options: AppwsSettings) -> None:
        self._sender = sender
        self._timeout: float = options.peer_request_timeout
        self._limit: int = options.max_peer_requests
        self._queue_limit: int = options.peer_subscription_queue
        self._counter = itertools.count(1)
        self._requests: dict[tuple[str, str], _Request] = {}
        self._subscriptions: dict[tuple[str, str], PeerSubscription] = {}
        self._listeners: dict[tuple[str, str], PeerListener] = {}
        self._ended = False
        #: The APIs the peer enabled (a PBX's ``PbxInfo``); None: any (not a PBX).
        self.apis: frozenset[str] | None = None
        self._pbx_info_seen = False

    def enable(self, apis: frozenset[str]) -> None:
        """Only these APIs may be asked from now on (the PBX's ``PbxInfo`` said so)."""
        self.apis = apis
        self._pbx_info_seen = True

    def check_api(self, api: str) -> None:
        """Raise ApiNotEnabled when the peer would never answer ``api``."""
        if self.apis is None or api in self.apis:
            return
        if not self._pbx_info_seen:
            raise ApiNotEnabled(
                f"API {api!r}: the PBX has not sent PbxInfo yet, so no API is enabled; "
                "call the PBX from the pbx_connected() hook"
            )
        enabled = ", ".join(sorted(self.apis)) or "none"
        raise ApiNotEnabled(
            f"the PBX did not enable API {api!r} for this App object (enabled: {enabled}): "
            "tick it in the App object's settings on the PBX"
        )

    def __len__(self) -> int:
        return len(self._requests) + len(self._subscriptions)

    def _next_key(self, message: Mapping[str, Any], api: str) -> tuple[str, str]:
        if self._ended:
            raise SessionEnded("the session has ended: nothing more is sent to its peer")
        self.check_api(api)
        if "src" in message:
            raise ValueError("appws chooses the src of a request: leave 'src' out")
        if message.get("api", api) != api:
            raise ValueError(f"the message's api {message['api']!r} is not api={api!r}")
        if not isinstance(message.get("mt"), str):
            raise ValueError("a request needs a string 'mt'")
        if len(self) >= self._limit:
            raise TooManyRequests(
                f"this session already has {self._limit} requests to its peer in flight "
                "(MAX_PEER_REQUESTS): wait for some of them"
            )
        return api, f"{SRC_PREFIX}{next(self._counter)}"

    async def send(self, message: Mapping[str, Any], api: str, src: str | None) -> None:
        """Send ``message`` with ``api`` (and ``src``, when given); nothing awaits an answer."""
        if self._ended:
            raise SessionEnded("the session has ended: nothing more is sent to its peer")
        self.check_api(api)
        stamped = {**message, "api": api} if src is None else {**message, "api": api, "src": src}
        text, size = values.encode_frame(stamped)
        if not await self._sender.send_frame(text, size):
            raise SessionEnded("the session ended: the message was not sent")

    async def request(
        self, message: Mapping[str, Any], api: str, timeout: float | None
    ) -> dict[str, Any]:
        """Send ``message``; return the peer's ``<mt>Result`` (see the consumer's ``request``)."""
        key = self._next_key(message, api)
        waiting = self._requests[key] = _Request(f"{message['mt']}Result")
        seconds = self._timeout if timeout is None else timeout
        try:
            await self.send(message, api, key[1])
            reply = await asyncio.wait_for(asyncio.shield(waiting.future), seconds)
        except asyncio.TimeoutError:
            raise PeerTimeout(
                f"no {waiting.result_mt} (api {api!r}) from the peer within {seconds:g} s"
            ) from None
        finally:
            if self._requests.get(key) is waiting:
                del self._requests[key]
        error = reply_error(reply)
        if error is not None:
            raise PeerError(*error, reply)
        return reply

    def subscribe(
        self, message: Mapping[str, Any], api: str, timeout: float | None
    ) -> PeerSubscription:
        """Register a subscription for ``message``; its first ``__anext__`` sends it."""
        key = self._next_key(message, api)
        seconds = self._timeout if timeout is None else timeout
        subscription = PeerSubscription(self, dict(message), key, self._queue_limit, seconds)
        self._subscriptions[key] = subscription
        return subscription

    def forget(self, subscription: PeerSubscription) -> None:
        """Stop routing messages to ``subscription`` (it ended)."""
        if self._subscriptions.get(subscription.key) is subscription:
            del self._subscriptions[subscription.key]

    def listen(
        self, api: str, mts: Collection[str], push: Callable[[dict[str, Any]], None]
    ) -> PeerListener:
        """Hand every later message of ``api`` with an ``mt`` in ``mts`` to ``push``.

        For what a peer sends unasked or with a ``src`` of its own choosing (a
        replication's live updates, incoming calls). One listener per ``(api, mt)``.
        """
        if self._ended:
            raise SessionEnded("the session has ended: nothing more comes from its peer")
        listener = PeerListener(self, api, frozenset(mts), push)
        taken = [mt for mt in listener.mts if (api, mt) in self._listeners]
        if taken:
            raise ValueError(f"api {api!r} mt {sorted(taken)!r}: already listened to")
        for mt in listener.mts:
            self._listeners[(api, mt)] = listener
        return listener

    def unlisten(self, listener: PeerListener) -> None:
        """Stop handing messages to ``listener``."""
        for mt in listener.mts:
            if self._listeners.get((listener.api, mt)) is listener:
                del self._listeners[(listener.api, mt)]

    def deliver(self, message: Mapping[str, Any]) -> bool:
        """Hand ``message`` to the request or peer subscription it answers; False if none.

        A request completes only on ``<mt>Result`` with its ``api`` and ``src``: a peer
        reusing that ``src`` on other messages (a replication's live updates) reaches
        the handlers instead.
        """
        api, src = message.get("api"), message.get("src")
        if not isinstance(api, str):
            return False
        if not isinstance(src, str):
            return self._to_listener(api, message)
        waiting = self._requests.get((api, src))
        if waiting is not None and message.get("mt") == waiting.result_mt:
            del self._requests[(api, src)]
            if not waiting.future.done():
                waiting.future.set_result(dict(message))
            return True
        subscription = self._subscriptions.get((api, src))
        if subscription is not None:
            subscription.push(dict(message))
            return True
        return self._to_listener(api, message)

    def _to_listener(self, api: str, message: Mapping[str, Any]) -> bool:
        mt = message.get("mt")
        listener = self._listeners.get((api, mt)) if isinstance(mt, str) else None
        if listener is None:
            return False
        listener.push(dict(message))
        return True

    def close(self) -> None:
        """The session ended: every request and peer subscription fails with SessionEnded."""
        self._ended = True
        self._listeners.clear()
        requests, self._requests = self._requests, {}
        for waiting in requests.values():
            if not waiting.future.done():
                waiting.future.set_exception(
                    SessionEnded("the session ended before the peer answered")
                )
        for subscription in list(self._subscriptions.values()):
            subscription.finish(SessionEnded("the session ended"))

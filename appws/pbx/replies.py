"""The reply channel of one ``appws.pbx`` call, and the answers that come to it.

A call sends its request once, and at most once more to the PBX's new session when
the registry says the first one is gone (``appws.pbx.call``). Each sending has its
own id; an answer to either is the call's, except the first session's "ended": that
one is gone, and the second is the one that answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from types import TracebackType
from typing import Any

from channels.layers import BaseChannelLayer

from appws.exceptions import LayerUnavailable
from appws.layer import events
from appws.layer.outage import is_layer_outage, is_read_timeout
from appws.pbx.connected import ConnectedPbx

__all__ = ["Replies"]


class Replies:
    """A new reply channel; ``request()`` makes each request event, ``next()`` waits."""

    def __init__(self, layer: BaseChannelLayer) -> None:
        self._layer = layer
        self.channel = ""
        self._sent: dict[str, ConnectedPbx] = {}
        self._latest = ""
        self._task: asyncio.Task[dict[str, Any]] | None = None

    async def __aenter__(self) -> Replies:
        self.channel = await self._layer.new_channel()
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task

    def request(
        self, target: ConnectedPbx, api: str, message: dict[str, Any], timeout: float
    ) -> dict[str, Any]:
        """The event asking ``target`` for ``message``, answered on this channel."""
        self._latest = request_id = uuid.uuid4().hex
        self._sent[request_id] = target
        return events.pbx_request(request_id, api, message, self.channel, timeout)

    def target_of(self, event: dict[str, Any]) -> ConnectedPbx:
        """The PBX session the answer ``event`` came from."""
        return self._sent[event["id"]]

    async def next(self, seconds: float) -> dict[str, Any] | None:
        """The answer, or None when none came within ``seconds``; the wait goes on on the
        next call."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._receive())
        if seconds <= 0 and not self._task.done():
            return None
        try:
            return await asyncio.wait_for(asyncio.shield(self._task), max(seconds, 0))
        except asyncio.TimeoutError:
            return None

    async def _receive(self) -> dict[str, Any]:
        while True:
            try:
                event: dict[str, Any] = await self._layer.receive(self.channel)
            except Exception as error:
                if is_read_timeout(error):
                    continue  # a PBX taking over 5 s: the call's own deadline ends the wait
                if is_layer_outage(error):
                    raise LayerUnavailable(
                        "The channel layer became unreachable while waiting for the PBX's reply."
                    ) from error
                raise
            # The reply channel is the call's own: anything else on it is no answer to it.
            request_id = event.get("id")
            if event.get("type") != events.PBX_REPLY or request_id not in self._sent:
                continue
            if request_id != self._latest and event.get("error") == "ended":
                continue  # the session it went to first is gone; the request went on
            return event

"""The floor of a request through Redis: a bare ``layer.send``/``layer.receive`` pair.

What every ``appws.pbx.arequest`` across processes does at least: the request onto the
PBX session's channel, picked up by that process's receive loop, and the reply onto the
caller's channel, picked up by the caller's. Here with nothing else: the answering side
is a bare process (``python -m bench.layerhops URL PREFIX``) that puts a reply on the
request's ``reply_to`` at once; the events are appws's own (same size, same
serialisation), so only the work of appws and of the PBX's websocket are left out.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from types import TracebackType
from typing import Any

from channels_redis.core import RedisChannelLayer

from appws.layer import events
from bench.constants import ROOT

REPLY = {"api": "PbxApi", "mt": "GetNodeInfoResult", "name": "root"}


def _layer(url: str, prefix: str) -> RedisChannelLayer:
    # redis-py 8 gives up reading after 5 s by default, as long as channels_redis blocks
    # in BZPOPMIN: the answering side waits idle through the rest of the workload.
    return RedisChannelLayer(hosts=[{"address": url, "socket_timeout": None}], prefix=prefix)


async def _answer(url: str, prefix: str) -> None:
    layer = _layer(url, prefix)
    channel = await layer.new_channel()
    print(channel, flush=True)
    while True:
        event = await layer.receive(channel)
        if event.get("reply_to") is None:
            return
        await layer.send(event["reply_to"], events.pbx_reply(event["id"], reply=dict(REPLY)))


class Answerer:
    """The answering process, on the redis-server at ``url``; ``channel`` is its own."""

    def __init__(self, url: str, prefix: str = "benchhops") -> None:
        self.url, self.prefix, self.channel = url, prefix, ""
        self._process: subprocess.Popen[str] | None = None

    def __enter__(self) -> Answerer:
        command = [sys.executable, "-m", "bench.layerhops", self.url, self.prefix]
        self._process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True)
        assert self._process.stdout is not None
        self.channel = self._process.stdout.readline().strip()
        if not self.channel:
            raise RuntimeError("bench.layerhops did not start")
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait(timeout=10)


async def round_trips(answerer: Answerer, count: int, warmup: int) -> list[float]:
    """``count`` request/reply pairs, one at a time, in ms (after ``warmup`` more)."""
    layer = _layer(answerer.url, answerer.prefix)
    message: dict[str, Any] = {"mt": "GetNodeInfo"}
    times = []
    for i in range(warmup + count):
        reply_to = await layer.new_channel()  # as arequest: a channel per call
        start = time.perf_counter()
        request = events.pbx_request(str(i), "PbxApi", message, reply_to, 10.0)
        await layer.send(answerer.channel, request)
        reply = await layer.receive(reply_to)
        if i >= warmup:
            times.append((time.perf_counter() - start) * 1000)
        if reply.get("id") != str(i):
            raise RuntimeError(f"unexpected reply {reply}")
    return times


if __name__ == "__main__":
    asyncio.run(_answer(sys.argv[1], sys.argv[2]))

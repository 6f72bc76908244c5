"""The load generator: workloads run from the harness process against one server each.

Every workload takes a :class:`Target` (a server plus the path of one service on it)
and returns plain numbers; the harness repeats them and takes medians.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import statistics
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

from appws.protocol import login_digest
from bench.constants import BENCH_APP, BENCH_PASSWORD
from bench.stats import cpu_seconds, rss_kib

ECHO = '{"mt":"Echo","text":"hello, app service","n":%d,"src":"%d"}'
CONNECT_LIMIT = 100  # connections opened at once


@dataclass(frozen=True)
class Target:
    """One service on one server: ``name`` as it appears in the results."""

    name: str
    url: str
    pid: int
    login: bool  # an appws service: log in before anything else


async def open_session(target: Target, sip: str = "bench") -> ClientConnection:
    """Connect, and log in when the target is an appws service."""
    ws = await connect(
        target.url,
        compression=None,
        ping_interval=None,
        max_size=None,
        open_timeout=60,
        close_timeout=10,
    )
    if target.login:
        await login(ws, sip)
    return ws


async def login(ws: ClientConnection, sip: str) -> None:
    """The AppWebsocket handshake: challenge, digest, result."""
    await ws.send('{"mt":"AppChallenge"}')
    challenge = json.loads(await ws.recv())["challenge"]
    message: dict[str, Any] = {"mt": "AppLogin", "app": BENCH_APP, "sip": sip}
    message["digest"] = login_digest(message, challenge, BENCH_PASSWORD)
    await ws.send(json.dumps(message))
    result = json.loads(await ws.recv())
    if result.get("ok") is not True:
        raise RuntimeError(f"login refused: {result}")


async def request(ws: ClientConnection, message: dict[str, Any]) -> dict[str, Any]:
    await ws.send(json.dumps(message))
    reply: dict[str, Any] = json.loads(await ws.recv())
    return reply


@contextlib.asynccontextmanager
async def session(target: Target, sip: str = "bench") -> AsyncIterator[ClientConnection]:
    ws = await open_session(target, sip)
    try:
        yield ws
    finally:
        await ws.close()


async def open_many(target: Target, count: int, prepare: Any = None) -> list[ClientConnection]:
    """Open ``count`` sessions, at most CONNECT_LIMIT at a time; ``prepare(ws, i)`` on each."""
    limit = asyncio.Semaphore(CONNECT_LIMIT)

    async def one(i: int) -> ClientConnection:
        async with limit:
            ws = await open_session(target, f"user{i}")
            if prepare is not None:
                await prepare(ws, i)
            return ws

    return list(await asyncio.gather(*(one(i) for i in range(count))))


async def close_many(sockets: Sequence[ClientConnection]) -> None:
    limit = asyncio.Semaphore(CONNECT_LIMIT * 5)

    async def one(ws: ClientConnection) -> None:
        async with limit:
            await ws.close()

    await asyncio.gather(*(one(ws) for ws in sockets))


class Meter:
    """Wall time, server CPU and this process's (the client's) CPU over a block."""

    def __init__(self, pids: Sequence[int]) -> None:
        self.pids = pids

    def __enter__(self) -> Meter:
        self._cpu = [cpu_seconds(pid) for pid in self.pids]
        self._client = time.process_time()
        self._start = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self._start
        self.client_cpu = time.process_time() - self._client
        self.server_cpu = sum(cpu_seconds(p) - c for p, c in zip(self.pids, self._cpu, strict=True))

    def rates(self, count: int) -> dict[str, float]:
        return {
            "rate": count / self.wall,
            "server_cpu_us": self.server_cpu / count * 1e6,
            "client_busy": self.client_cpu / self.wall,
        }


# -- echo ------------------------------------------------------------------


async def echo_pingpong(target: Target, count: int) -> dict[str, float]:
    """One connection, one request at a time: round trips per second."""
    frames = [ECHO % (i, i) for i in range(count)]
    async with session(target) as ws:
        for frame in frames[:20]:  # warm-up
            await ws.send(frame)
            await ws.recv()
        with Meter([target.pid]) as meter:
            for frame in frames:
                await ws.send(frame)
                last = await ws.recv()
    _check_last(last, count)
    return meter.rates(count)


async def echo_pipelined(target: Target, count: int, window: int = 100) -> dict[str, float]:
    """One connection, up to ``window`` requests in flight: messages per second."""
    frames = [ECHO % (i, i) for i in range(count)]
    async with session(target) as ws:
        in_flight = asyncio.Semaphore(window)
        last = ""

        async def send_all() -> None:
            for frame in frames:
                await in_flight.acquire()
                await ws.send(frame)

        async def receive_all() -> None:
            nonlocal last
            for _ in range(count):
                last = str(await ws.recv())
                in_flight.release()

        with Meter([target.pid]) as meter:
            await asyncio.gather(send_all(), receive_all())
    _check_last(last, count)
    return meter.rates(count)


async def echo_connections(target: Target, count: int, connections: int) -> dict[str, float]:
    """``connections`` connections, each one request at a time: messages per second in all."""
    per = max(1, count // connections)
    sockets = await open_many(target, connections)
    frames = [ECHO % (i, i) for i in range(per)]
    try:

        async def run(ws: ClientConnection) -> str:
            reply = ""
            for frame in frames:
                await ws.send(frame)
                reply = str(await ws.recv())
            return reply

        with Meter([target.pid]) as meter:
            lasts = await asyncio.gather(*(run(ws) for ws in sockets))
    finally:
        await close_many(sockets)
    for last in lasts:
        _check_last(last, per)
    return meter.rates(per * connections)


def _check_last(frame: Any, count: int) -> None:
    reply = json.loads(frame)
    if reply.get("mt") != "EchoResult" or reply.get("src") != str(count - 1):
        raise RuntimeError(f"unexpected last reply: {frame!r}")


# -- logins ----------------------------------------------------------------


async def logins(target: Target, count: int, workers: int = 1) -> dict[str, float]:
    """Connect, log in (challenge, digest, result), close: ``count`` times.

    A service without a login does two Echo round trips in its place (the same
    traffic without the digest), so that the connection cost stays comparable.
    ``exchange_rate`` counts only the two round trips, not connect and close.
    """
    exchange = 0.0
    per = max(1, count // workers)

    async def worker(w: int) -> None:
        nonlocal exchange
        for i in range(per):
            ws = await connect(target.url, compression=None, ping_interval=None, open_timeout=60)
            start = time.perf_counter()
            if target.login:
                await login(ws, f"user{w}-{i}")
            else:
                for n in range(2):
                    await ws.send(ECHO % (n, n))
                    await ws.recv()
            exchange += time.perf_counter() - start
            await ws.close()

    with Meter([target.pid]) as meter:
        await asyncio.gather(*(worker(w) for w in range(workers)))
    done = per * workers
    return {**meter.rates(done), "exchange_rate": done / exchange}


# -- fan-out ---------------------------------------------------------------


async def fanout(
    subscriber_targets: Sequence[Target], notifier: Target, subscribers: int, notifies: int
) -> dict[str, Any]:
    """``subscribers`` sessions subscribe to one topic (spread over the targets);
    ``notifier`` sends ``notifies`` Notify requests, one after the other.

    For each notify: milliseconds from sending it until each subscriber has it.
    """
    topic = f"fanout-{time.monotonic_ns()}"
    per_target = _spread(subscribers, len(subscriber_targets))
    sockets: list[ClientConnection] = []

    async def subscribe(ws: ClientConnection, i: int) -> None:
        reply = await request(ws, {"mt": "Subscribe", "topic": topic, "src": f"s{i}"})
        if "error" in reply:
            raise RuntimeError(f"subscribe failed: {reply}")

    for target, count in zip(subscriber_targets, per_target, strict=True):
        sockets += await open_many(target, count, subscribe)
    arrived: list[list[float]] = [[] for _ in range(notifies)]
    complete = [asyncio.Event() for _ in range(notifies)]

    async def read(ws: ClientConnection) -> None:
        for _ in range(notifies):
            frame = await ws.recv()
            now = time.perf_counter()
            seq = json.loads(frame)["seq"]
            arrived[seq].append(now)
            if len(arrived[seq]) == subscribers:
                complete[seq].set()

    readers = [asyncio.create_task(read(ws)) for ws in sockets]
    runs = []
    try:
        async with session(notifier, "notifier") as ws:
            for seq in range(notifies):
                await asyncio.sleep(0.2)  # let the previous round settle
                start = time.perf_counter()
                await ws.send(
                    json.dumps(
                        {"mt": "Notify", "topic": topic, "message": {"mt": "Tick", "seq": seq}}
                    )
                )
                await asyncio.wait_for(complete[seq].wait(), 60)
                reply = json.loads(await ws.recv())
                if reply.get("mt") != "NotifyResult" or "error" in reply:
                    raise RuntimeError(f"notify failed: {reply}")
                latencies = sorted((t - start) * 1000 for t in arrived[seq])
                runs.append(
                    {
                        "p50_ms": _percentile(latencies, 50),
                        "p99_ms": _percentile(latencies, 99),
                        "last_ms": latencies[-1],
                    }
                )
    finally:
        for task in readers:
            task.cancel()
        await asyncio.gather(*readers, return_exceptions=True)
        await close_many(sockets)
    return {
        "subscribers": subscribers,
        "notifies": notifies,
        **{key: statistics.median(run[key] for run in runs) for key in runs[0]},
        "runs": runs,
    }


def _spread(total: int, parts: int) -> list[int]:
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


def _percentile(ordered: Sequence[float], percent: float) -> float:
    index = min(len(ordered) - 1, max(0, round(percent / 100 * len(ordered)) - 1))
    return ordered[index]


# -- memory and churn ------------------------------------------------------


async def _touch(ws: ClientConnection, i: int) -> None:
    reply = await request(ws, {"mt": "Echo", "src": str(i)})
    if reply.get("mt") != "EchoResult":
        raise RuntimeError(f"unexpected reply: {reply}")


async def memory(target: Target, steps: Sequence[int], settle: float = 2.0) -> dict[str, Any]:
    """Server RSS with 0 and then ``steps`` idle sessions (logged in, one Echo done)."""
    async with session(target) as ws:  # warm the server up once
        await _touch(ws, 0)
    await asyncio.sleep(settle)
    base = rss_kib(target.pid)
    sockets: list[ClientConnection] = []
    points = {}
    try:
        for step in steps:
            more = await open_many(target, step - len(sockets), _touch)
            sockets += more
            await asyncio.sleep(settle)
            rss = rss_kib(target.pid)
            points[str(step)] = {"rss_kib": rss, "per_session_kib": (rss - base) / step}
    finally:
        await close_many(sockets)
    return {"rss_base_kib": base, "sessions": points}


async def stats(target: Target, detail: bool = False) -> dict[str, Any]:
    """What the server says about itself (an appws target: Stats needs a login)."""
    async with session(target, "stats") as ws:
        reply = await request(ws, {"mt": "Stats", "detail": detail})
    return {key: value for key, value in reply.items() if key not in ("mt", "src")}


async def churn(
    target: Target, cycles: int, warmup: int, workers: int = 20, settle: float = 2.0
) -> dict[str, Any]:
    """Connect, log in, Echo, disconnect ``cycles`` times; the server before and after."""

    await cycles_of(target, warmup, workers)
    await asyncio.sleep(settle)
    before = await stats(target)
    checkpoints = []  # RSS after each fifth of the cycles: a plateau or a slope
    with Meter([target.pid]) as meter:
        for part in _spread(cycles, 5):
            await cycles_of(target, part, workers)
            checkpoints.append(rss_kib(target.pid))
    after = await _settled_stats(target, before, settle)
    if after["tasks"] > before["tasks"]:
        after = {**after, **await stats(target, detail=True)}
    return {
        "cycles": cycles,
        "cycles_per_s": cycles / meter.wall,
        "before": before,
        "after": after,
        "rss_change_pct": (after["rss_kib"] - before["rss_kib"]) / before["rss_kib"] * 100,
        "rss_checkpoints_kib": checkpoints,
        "task_growth": after["tasks"] - before["tasks"],
    }


async def cycles_of(target: Target, total: int, workers: int = 20) -> None:
    """``total`` connect / log in / Echo / disconnect cycles, ``workers`` at a time."""
    per = _spread(total, workers)

    async def worker(w: int) -> None:
        for i in range(per[w]):
            async with session(target, f"churn{w}-{i}") as ws:
                await _touch(ws, i)

    await asyncio.gather(*(worker(w) for w in range(workers)))


async def _settled_stats(
    target: Target, before: dict[str, int], settle: float, tries: int = 5
) -> dict[str, int]:
    """Stats once the server has finished tearing the last connections down."""
    after = before
    for _ in range(tries):
        await asyncio.sleep(settle)
        after = await stats(target)
        if after["tasks"] <= before["tasks"]:
            break
    return after


def run(coroutine_function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run one workload on a fresh event loop."""
    return asyncio.run(coroutine_function(*args, **kwargs))

"""Workload 9: requests to a PBX, from the consumer and from another process, against Echo.

A ``FakePbx`` logs in to the bench service as the App object (``PbxApi`` enabled) and is
the client of the first two kinds of round trip, on its own session:

- ``echo``: ``Echo`` -> ``EchoResult`` (the baseline: one round trip, handler does nothing);
- ``consumer``: ``AskPbx`` -> the handler's ``self.request`` of ``GetNodeInfo`` to the
  FakePbx -> its reply -> ``AskPbxResult``;

and, when a second server shares the channel layer (Redis), a plain session on it sends

- ``remote``: ``AskPbxRemote`` -> the handler's ``appws.pbx.arequest`` through Redis to the
  first server's PBX session -> the FakePbx -> back the same way -> ``AskPbxRemoteResult``;

and, on the same redis-server, ``floor``: a bare ``layer.send``/``layer.receive`` pair
with a process that answers at once (``bench/layerhops.py``), what ``remote_inner`` costs
at least.

``echo`` and ``consumer`` alternate, one round trip at a time, so that a noisy neighbour
slows both alike; the ``remote`` ones follow on their own (right after one, the servers
are still finishing its work off: an Echo sent then took half as long again). Each is timed
from the client (send until reply) and, for the PBX requests, also as the handler timed
its own request (``*_inner``: without the client's hop).
"""

from __future__ import annotations

import json
import time
from typing import Any

from appws.testing import FakePbx
from bench import layerhops
from bench.client import Target, _percentile, session
from bench.constants import BENCH_PASSWORD

WARMUP = 20


def _check(reply: dict[str, Any], mt: str, src: str) -> dict[str, Any]:
    if reply.get("mt") != mt or reply.get("src") != src or "error" in reply:
        raise RuntimeError(f"unexpected reply to {mt.removesuffix('Result')}: {reply}")
    return reply


async def pbx_round_trips(
    pbx_target: Target,
    remote: Target | None,
    count: int,
    floor: layerhops.Answerer | None = None,
) -> dict[str, Any]:
    """``count`` round trips of each kind (``remote`` only when a second server is given,
    ``floor`` when its answering process is)."""
    times: dict[str, list[float]] = {"echo": [], "consumer": [], "consumer_inner": []}
    async with FakePbx(pbx_target.url, password=BENCH_PASSWORD, apis=["PbxApi"]) as fake:

        async def ask(mt: str, src: str) -> dict[str, Any]:
            since = fake.mark()
            await fake.send({"mt": mt, "src": src})
            frame = await fake.wait_for(direction="received", since=since, src=src)
            assert frame.message is not None
            return _check(frame.message, f"{mt}Result", src)

        for i in range(WARMUP + count):
            start = time.perf_counter()
            await ask("Echo", f"e{i}")
            echo_done = time.perf_counter()
            reply = await ask("AskPbx", f"a{i}")
            if i >= WARMUP:
                times["echo"].append((echo_done - start) * 1000)
                times["consumer"].append((time.perf_counter() - echo_done) * 1000)
                times["consumer_inner"].append(reply["ms"])
        # AskPbx answered: PbxInfo was handled, so the PBX is registered for arequest.
        if remote is not None:
            times |= await _remote_round_trips(remote, count)
    if floor is not None:
        times["floor"] = await layerhops.round_trips(floor, count, WARMUP)
    return _summary(times)


async def _remote_round_trips(remote: Target, count: int) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {"remote": [], "remote_inner": []}
    async with session(remote, "remote") as ws:
        for i in range(WARMUP + count):
            src = f"r{i}"
            start = time.perf_counter()
            await ws.send(json.dumps({"mt": "AskPbxRemote", "src": src}))
            reply = _check(json.loads(await ws.recv()), "AskPbxRemoteResult", src)
            if i >= WARMUP:
                times["remote"].append((time.perf_counter() - start) * 1000)
                times["remote_inner"].append(reply["ms"])
    return times


def _summary(times: dict[str, list[float]]) -> dict[str, Any]:
    out: dict[str, Any] = {"round_trips": len(times["echo"])}
    for kind, values in times.items():
        ordered = sorted(values)
        out[f"{kind}_p50_ms"] = _percentile(ordered, 50)
        out[f"{kind}_p99_ms"] = _percentile(ordered, 99)
    return out


def with_ratios(row: dict[str, Any]) -> dict[str, Any]:
    """``row`` (medians of runs) plus the ratios the targets are read from."""
    ratios = {}
    for p in ("p50", "p99"):
        echo, consumer = row[f"echo_{p}_ms"], row[f"consumer_{p}_ms"]
        ratios[f"consumer_{p}_ratio"] = consumer / echo
        ratios[f"consumer_inner_{p}_ratio"] = row[f"consumer_inner_{p}_ms"] / echo
        if f"remote_{p}_ms" in row:
            ratios[f"remote_{p}_ratio"] = row[f"remote_{p}_ms"] / consumer
            inner = row[f"consumer_inner_{p}_ms"]
            ratios[f"remote_inner_{p}_ratio"] = row[f"remote_inner_{p}_ms"] / inner
        if f"floor_{p}_ms" in row:
            ratios[f"remote_inner_{p}_floor_ratio"] = (
                row[f"remote_inner_{p}_ms"] / row[f"floor_{p}_ms"]
            )
    return {**row, **ratios}

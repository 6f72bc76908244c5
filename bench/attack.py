"""Workload 8: clients that know no password send the costliest frames allowed before login,
while a logged-in victim session measures its round trips.

The frames are the worst a client can send before login with appws's defaults
(``MAX_LOGIN_MESSAGE_BYTES`` 64 KiB, ``MAX_LOGIN_CONTAINERS`` 1024, ``MAX_DEPTH`` 32): an
``AppLogin`` whose ``info`` holds as many arrays as allowed, nested as deep as allowed, and
fills the rest with numbers with a fraction; one whose ``info`` has as many keys as fit;
the same shapes as other requests; and a frame of almost 1 MiB (above the pre-login limit,
below daphne's own). The digest is well-formed but wrong, so
the server does all the work of a login before refusing it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import time
from typing import Any

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from bench.client import ECHO, Meter, Target, _percentile, session
from bench.constants import ROOT

LOGIN_LIMIT = 64 * 1024
MAX_CONTAINERS = 1024
MAX_DEPTH = 32
# Above the pre-login limit, below daphne's --websocket-max-message-size (1 MiB).
OVERSIZED = 1000 * 1000
WRONG_DIGEST = "0" * 64


def _fill(head: str, unit: str, size: int, tail: str) -> str:
    """``head`` + as many comma-separated ``unit`` as fit in ``size`` bytes + ``tail``."""
    count = max(1, (size - len(head) - len(tail) + 1) // (len(unit) + 1))
    return head + ",".join([unit] * count) + tail


def nested_frame(mt: str = "AppLogin", size: int = LOGIN_LIMIT, app: str = "bench") -> str:
    """A frame of ``size`` bytes: as many arrays as allowed, nested as deep as allowed,
    then numbers with a fraction (each one parsed and formatted in Python)."""
    # The frame is depth 1, info 2, its member "a" 3: each unit may nest the rest.
    nest = MAX_DEPTH - 3
    units = (MAX_CONTAINERS - 2) // nest
    head = (
        f'{{"mt":"{mt}","app":"{app}","sip":"mallory","digest":"{WRONG_DIGEST}",'
        '"info":{"a":[' + ",".join(["[" * nest + "]" * nest] * units) + ","
    )
    return _fill(head, "1.5", size, "]}}")


def keys_frame(mt: str = "AppLogin", size: int = LOGIN_LIMIT, app: str = "bench") -> str:
    """A frame of ``size`` bytes whose ``info`` has as many keys as fit, all array indexes
    (JavaScript orders those first, so the digest's JSON.stringify form is built in Python)."""
    head = f'{{"mt":"{mt}","app":"{app}","sip":"mallory","digest":"{WRONG_DIGEST}","info":{{'
    keys = []
    used = len(head) + 2
    while used < size - 12:
        key = f'"{len(keys)}":0'
        keys.append(key)
        used += len(key) + 1
    return head + ",".join(keys) + "}}"


def oversized_frame(size: int = OVERSIZED) -> str:
    """A frame over the pre-login limit, all arrays nested as deep as allowed: what cost
    seconds of parsing and walking before there was a limit before login (now refused by
    its size, never parsed)."""
    nest = MAX_DEPTH - 3
    head = '{"mt":"Echo","a":['
    return _fill(head, "[" * nest + "]" * nest, size, "]}")


def attacker_frames(login: str) -> list[str]:
    """What one attacker connection sends after its AppChallenge, ending with ``login``.

    Eighteen frames: with AppChallenge, as many as a connection may send before login
    (``MAX_MESSAGES_BEFORE_LOGIN`` 20 allows one more). The login is refused and the
    connection closed, so each connection has one.
    """
    junk = [nested_frame("Echo"), keys_frame("Echo"), oversized_frame()]
    return [*junk * 6, login][1:]


async def _attack_once(url: str, frames: list[str]) -> int:
    """One connection: AppChallenge, then the frames one at a time; returns frames answered."""
    answered = 0
    async with connect(url, compression=None, ping_interval=None, max_size=None) as ws:
        await ws.send('{"mt":"AppChallenge"}')
        await ws.recv()
        answered += 1
        for frame in frames:
            await ws.send(frame)
            await ws.recv()
            answered += 1
    return answered


async def _attack(url: str, attackers: int) -> int:
    """Attack with ``attackers`` connections at a time until stdin closes; frames answered."""
    logins = [attacker_frames(nested_frame()), attacker_frames(keys_frame())]
    loop = asyncio.get_running_loop()
    stopped = loop.run_in_executor(None, sys.stdin.read)  # EOF: the harness is done
    counts: list[int] = []

    async def attacker(number: int) -> None:
        turn = number
        while not stopped.done():
            with contextlib.suppress(ConnectionClosed, OSError):
                counts.append(await _attack_once(url, logins[turn % 2]))
            if len(counts) == 1:
                print("attacking", flush=True)
            turn += 1

    await asyncio.gather(*(attacker(number) for number in range(attackers)))
    return sum(counts)


def main() -> None:
    """``python -m bench.attack URL N``: the attackers, in a process of their own."""
    url, attackers = sys.argv[1], int(sys.argv[2])
    print(json.dumps({"frames": asyncio.run(_attack(url, attackers))}), flush=True)


async def _round_trips(target: Target, count: int) -> list[float]:
    """``count`` Echo round trips on one logged-in session, each in milliseconds."""
    times = []
    async with session(target, "victim") as ws:
        for i in range(20):  # warm-up
            await ws.send(ECHO % (i, i))
            await ws.recv()
        for i in range(count):
            start = time.perf_counter()
            await ws.send(ECHO % (i, i))
            reply = json.loads(await ws.recv())
            times.append((time.perf_counter() - start) * 1000)
            if reply.get("src") != str(i):
                raise RuntimeError(f"unexpected reply: {reply}")
    return sorted(times)


async def attack(target: Target, attackers: int, round_trips: int) -> dict[str, Any]:
    """The victim's round trips alone, then while ``attackers`` connections attack.

    The attackers run in a process of their own, so that the victim's round trips
    measure the server, not a client loop busy writing megabytes.
    """
    idle = await _round_trips(target, round_trips)
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.attack",
        target.url,
        str(attackers),
        cwd=ROOT,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    assert process.stdin is not None and process.stdout is not None
    try:
        # Returns once the first attacker connection is done: the attack is under way.
        if await process.stdout.readline() != b"attacking\n":
            raise RuntimeError("the attackers did not start")
        with Meter([target.pid]) as meter:
            under = await _round_trips(target, round_trips)
        process.stdin.close()
        frames = json.loads(await process.stdout.read())["frames"]
    finally:
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
        await process.wait()
    return {
        **_summary(idle, under, attackers),
        "attack_frames": frames,
        "server_cpu_busy": meter.server_cpu / meter.wall,
    }


def _summary(idle: list[float], under: list[float], attackers: int) -> dict[str, Any]:
    idle_p99, attack_p99 = _percentile(idle, 99), _percentile(under, 99)
    return {
        "attackers": attackers,
        "round_trips": len(idle),
        "idle_p50_ms": _percentile(idle, 50),
        "idle_p99_ms": idle_p99,
        "attack_p50_ms": _percentile(under, 50),
        "attack_p99_ms": attack_p99,
        "attack_max_ms": under[-1],
        "p99_ratio": attack_p99 / idle_p99,
    }


if __name__ == "__main__":
    main()

"""Workload 11: the login storm, as after a server restart.

Every session connects at the same moment: ``login`` storms also log in (AppChallenge,
AppLogin with its digest, AppLoginResult), ``open`` storms stop once the WebSocket
handshake is done. Both run on the same server, interleaved; the ratio of the times
until the last one is done is the cost of the logins over that of the connections.

The clients run in processes of their own (``python -m bench.storm``), each opening its
share of the sockets at once, so that one Python client loop is not what is measured:
each reports how busy it was, and the harness keeps the busiest in the results.
Clocks: ``time.monotonic()`` is the same clock in every process of the machine.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from collections import Counter
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake

from appws.testing import DaphneProcess
from bench.client import Target, login
from bench.constants import BENCH_APP, BENCH_PASSWORD, ROOT
from bench.database import BenchDatabase
from bench.servers import Daphne, bench_env
from bench.stats import cpu_seconds

MODES = ("open", "login")
#: Seconds one session may take: far above any storm, so a slow one is slow, not lost.
DEADLINE = 600
#: appws's own close codes a login can end with (login failed, throttled, login timeout).
REFUSAL_CODES = range(4000, 5000)


# -- one client process ------------------------------------------------------------


Outcome = tuple[str, float, float, ClientConnection | None, str]


async def _one(url: str, mode: str, sip: str) -> Outcome:
    """One session: its outcome (``ok``, ``refused``, ``lost``, ``failed``), when it ended,
    seconds from its handshake to its end (what ``LOGIN_TIMEOUT`` counts), why not ok."""
    try:
        ws = await connect(
            url, compression=None, ping_interval=None, open_timeout=DEADLINE, close_timeout=5
        )
    except (OSError, InvalidHandshake, asyncio.TimeoutError) as error:
        # OSError: the kernel refused the connection; InvalidHandshake: the server did.
        kind = "lost" if isinstance(error, asyncio.TimeoutError) else "refused"
        return kind, time.monotonic(), 0.0, None, type(error).__name__
    opened = time.monotonic()
    if mode == "login":
        try:
            await asyncio.wait_for(login(ws, sip), DEADLINE)
        except ConnectionClosed as closed:
            code = closed.rcvd.code if closed.rcvd is not None else None
            kind = "failed" if code in REFUSAL_CODES else "lost"
            now = time.monotonic()
            return kind, now, now - opened, ws, f"closed {code}"
        except asyncio.TimeoutError:
            now = time.monotonic()
            return "lost", now, now - opened, ws, "no AppLoginResult"
        except RuntimeError as refused:  # AppLoginResult without ok
            now = time.monotonic()
            return "failed", now, now - opened, ws, str(refused)[:120]
    now = time.monotonic()
    return "ok", now, now - opened, ws, ""


async def _client(url: str, count: int, mode: str, first: int) -> None:
    """Say ``ready``; on ``go`` open ``count`` sessions at once; report; close on ``close``."""
    loop = asyncio.get_running_loop()
    print("ready", flush=True)
    await loop.run_in_executor(None, sys.stdin.readline)  # "go"
    cpu = time.process_time()
    started = time.monotonic()
    outcomes = await asyncio.gather(*(_one(url, mode, f"storm{first + i}") for i in range(count)))
    wall = time.monotonic() - started
    kinds = Counter(kind for kind, _, _, _, _ in outcomes)
    report = {
        "done": sorted(when for kind, when, _, _, _ in outcomes if kind == "ok"),
        "after_open_max": max(after for _, _, after, _, _ in outcomes),
        "counts": {kind: kinds.get(kind, 0) for kind in ("ok", "refused", "lost", "failed")},
        "errors": dict(Counter(why for kind, _, _, _, why in outcomes if kind != "ok")),
        "client_busy": (time.process_time() - cpu) / wall if wall else 0.0,
    }
    print(json.dumps(report), flush=True)
    await loop.run_in_executor(None, sys.stdin.readline)  # "close"
    sockets = [ws for _, _, _, ws, _ in outcomes if ws is not None]
    await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)


def main() -> None:
    """``python -m bench.storm URL COUNT MODE FIRST``: one client process of a storm."""
    url, count, mode, first = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
    asyncio.run(_client(url, count, mode, first))


# -- the harness side ----------------------------------------------------------------

#: daphne's listen queue (Twisted's default is 50; the kernel caps it at net.core.somaxconn).
BACKLOG = 4096
#: Seconds daphne lets the application take to accept a handshake (its default is 5).
CONNECT_TIMEOUT = 600


class _StormProcess(DaphneProcess):
    def __init__(self, *args: Any, backlog: int | None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.backlog = backlog

    def command(self) -> list[str]:
        command = super().command()
        if self.backlog is not None:
            command[command.index("-e") + 1] += f":backlog={self.backlog}"
        return command


class StormDaphne(Daphne):
    """daphne as a server expecting storms is run: a listen queue of ``backlog``
    connections, ``connect_timeout`` s to accept each (None: daphne's defaults)."""

    def __init__(
        self,
        env: dict[str, str],
        backlog: int | None = BACKLOG,
        connect_timeout: int | None = CONNECT_TIMEOUT,
    ) -> None:
        super().__init__(env)
        args = (
            [] if connect_timeout is None else ["--websocket_connect_timeout", str(connect_timeout)]
        )
        self.process = _StormProcess(
            self.process.application, env=env, cwd=ROOT, args=args, backlog=backlog
        )


def storm_env(database: BenchDatabase, **extra: str) -> dict[str, str]:
    """appws's defaults: tracking, user mapping, the throttle, the App in the database."""
    return bench_env(database, track=True, BENCH_STORM="1", **extra)


def add_app(database: BenchDatabase) -> None:
    """Put the bench App in the App table (once per database), as an admin would."""
    env = {**os.environ, **storm_env(database), "BENCH_APP_PASSWORD": BENCH_PASSWORD}
    listed = subprocess.run(
        [sys.executable, "manage.py", "appws_app", "list"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    if BENCH_APP not in listed.split():
        subprocess.run(
            [
                sys.executable,
                "manage.py",
                "appws_app",
                "add",
                BENCH_APP,
                "--password-env",
                "BENCH_APP_PASSWORD",
            ],
            cwd=ROOT,
            env=env,
            capture_output=True,
            check=True,
        )


def client_processes(sessions: int) -> int:
    """One client process per 500 sessions, at least one, at most one per core and a half."""
    return max(1, min(-(-sessions // 500), int((os.cpu_count() or 1) * 1.5)))


def storm(target: Target, sessions: int, mode: str, processes: int) -> dict[str, Any]:
    """``sessions`` sessions connecting (and, for ``login``, logging in) at once."""
    shares = [
        sessions // processes + (1 if i < sessions % processes else 0) for i in range(processes)
    ]
    firsts = [sum(shares[:i]) for i in range(processes)]
    children = [
        subprocess.Popen(
            [sys.executable, "-m", "bench.storm", target.url, str(share), mode, str(first)],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for share, first in zip(shares, firsts, strict=True)
    ]
    try:
        if any(_hear(child) != "ready" for child in children):
            raise RuntimeError("a storm client did not start")
        cpu = cpu_seconds(target.pid)
        started = time.monotonic()
        for child in children:
            _say(child, "go")
        reports = [json.loads(_hear(child)) for child in children]
        server_cpu = cpu_seconds(target.pid) - cpu
        for child in children:
            _say(child, "close")
        for child in children:
            child.wait(60)
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
                child.wait()
    done = sorted(when - started for report in reports for when in report["done"])
    counts = Counter[str]()
    errors = Counter[str]()
    for report in reports:
        counts.update(report["counts"])
        errors.update(report["errors"])
    last = done[-1] if done else 0.0
    return {
        "all_s": last,
        "p50_s": done[len(done) // 2] if done else 0.0,
        "ok": counts["ok"],
        "refused": counts["refused"],
        "lost": counts["lost"],
        "failed": counts["failed"],
        "errors": dict(errors),
        "server_cpu_busy": server_cpu / last if last else 0.0,
        # Steadier than wall time on a machine shared with other jobs.
        "server_cpu_us": server_cpu / sessions * 1e6,
        "client_busy_max": max(report["client_busy"] for report in reports),
        # The longest a session waited from its handshake to its AppLoginResult.
        "after_open_max_s": max(report["after_open_max"] for report in reports),
    }


def _say(child: subprocess.Popen[str], line: str) -> None:
    assert child.stdin is not None
    child.stdin.write(line + "\n")
    child.stdin.flush()


def _hear(child: subprocess.Popen[str]) -> str:
    assert child.stdout is not None
    return child.stdout.readline().rstrip("\n")


def settle(pid: int, quiet: float = 0.05, step: float = 0.5, longest: float = 120) -> None:
    """Wait until the server has torn the last storm down (its CPU quiet for a step)."""
    give_up = time.monotonic() + longest
    before = cpu_seconds(pid)
    while time.monotonic() < give_up:
        time.sleep(step)  # a measurement's pause, not synchronisation
        now = cpu_seconds(pid)
        if now - before < quiet * step:
            return
        before = now


def summary(sessions: int, processes: int, runs: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """Medians per kind of storm, the ratio, and the worst counts of any run."""
    result: dict[str, Any] = {"sessions": sessions, "client_processes": processes}
    for mode in MODES:
        rows = runs[mode]
        result[mode] = {
            "all_s": statistics.median(row["all_s"] for row in rows),
            "p50_s": statistics.median(row["p50_s"] for row in rows),
            "server_cpu_busy": statistics.median(row["server_cpu_busy"] for row in rows),
            "server_cpu_us": statistics.median(row["server_cpu_us"] for row in rows),
            "client_busy_max": max(row["client_busy_max"] for row in rows),
            "after_open_max_s": max(row["after_open_max_s"] for row in rows),
            **{key: max(row[key] for row in rows) for key in ("refused", "lost", "failed")},
            "errors": dict(sum((Counter(row["errors"]) for row in rows), Counter[str]())),
            "runs": rows,
        }
    result["ratio"] = result["login"]["all_s"] / result["open"]["all_s"]
    result["cpu_ratio"] = result["login"]["server_cpu_us"] / result["open"]["server_cpu_us"]
    return result


# -- in the results ------------------------------------------------------------------

RATIO_GOAL = 2.0


def storm_verdicts(results: dict[str, Any]) -> list[dict[str, Any]]:
    """The storm's targets: its ratio, and no refused, lost or failed session."""
    row = results["storm"]
    worst = max(row[mode][key] for mode in MODES for key in ("refused", "lost", "failed"))
    name = f"login storm of {row['sessions']:,}: all logged in / all open"
    return [
        {
            "target": name,
            "value": row["ratio"],
            "goal": f"<= {RATIO_GOAL}",
            "met": row["ratio"] <= RATIO_GOAL,
        },
        {
            "target": "login storm: refused + lost + failed sessions (worst run)",
            "value": worst,
            "goal": "0",
            "met": worst == 0,
        },
    ]


def storm_table(results: dict[str, Any]) -> list[str]:
    """The storm as Markdown table rows."""
    row = results["storm"]
    lines = [
        f"| login storm, {row['sessions']:,} sessions at once ({row['client_processes']} "
        "client processes) | all done s | half done s | server CPU µs/session "
        "| server CPU busy | busiest client | refused / lost / failed |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    labels = {"open": "WebSocket handshake only", "login": "handshake + AppChallenge + AppLogin"}
    for mode in MODES:
        part = row[mode]
        lines.append(
            f"| {labels[mode]} | {part['all_s']:.2f} | {part['p50_s']:.2f} "
            f"| {part['server_cpu_us']:,.0f} | {part['server_cpu_busy']:.0%} "
            f"| {part['client_busy_max']:.0%} "
            f"| {part['refused']} / {part['lost']} / {part['failed']} |"
        )
    lines.append(f"| ratio | {row['ratio']:.2f} ÷ open | | {row['cpu_ratio']:.2f} ÷ open | | | |")
    lines.append(
        "| longest from a handshake to its AppLoginResult (what LOGIN_TIMEOUT counts) "
        f"| {row['login']['after_open_max_s']:.2f} | | | | | |"
    )
    return lines


if __name__ == "__main__":
    main()

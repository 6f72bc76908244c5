"""The chart of a run: one PNG, a panel per workload, small enough to commit.

A panel whose workload did not run (``--only``, or a run older than it) says so
instead of failing: every panel reads its results with ``.get``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

BASE = "channels@daphne"
APPWS = "appws@daphne"
TRACKED = "appws+tracking@daphne"
RAW = "websockets"
WORKLOADS = (
    ("echo_pingpong", "ping-pong"),
    ("echo_pipelined", "pipelined"),
    ("echo_connections", "50 connections"),
)

Panel = Callable[[Any, dict[str, Any], dict[str, float]], None]


def _bars(ax: Any, groups: list[str], series: dict[str, list[float]], width: float) -> None:
    count = len(series)
    for index, (name, values) in enumerate(series.items()):
        offsets = [g + (index - (count - 1) / 2) * width for g in range(len(groups))]
        ax.bar(offsets, values, width, label=name)
    ax.set_xticks(range(len(groups)), groups)


def _goal(ax: Any, value: float | None) -> None:
    if value is not None:
        ax.axhline(value, color="grey", linewidth=0.8, linestyle="--")


def _not_run(ax: Any, title: str) -> None:
    ax.axis("off")
    ax.set_title(title)
    ax.text(0.5, 0.5, "not in this run", ha="center", va="center", color="grey")


def draw(results: dict[str, Any], path: Path) -> None:
    """Write the chart of ``results`` to ``path``."""
    from bench.run import TARGETS

    goals = TARGETS["appws_goal"]
    panels: list[Panel] = [
        _echo_panel,
        _cpu_panel,
        _logins_panel,
        _fanout_panel,
        _fanout_ratio_panel,
        _memory_panel,
        _pbx_panel,
        _replication_panel,
        _storm_panel,
    ]
    rows = (len(panels) + 1) // 2
    fig, axes = plt.subplots(rows, 2, figsize=(11, 3.6 * rows))
    cells = [ax for row in axes for ax in row]
    for ax, panel in zip(cells, panels, strict=False):
        panel(ax, results, goals)
    for ax in cells[len(panels) :]:
        ax.axis("off")

    machine = results.get("machine", {})
    fig.suptitle(
        f"appws benchmarks ({results.get('config', {}).get('mode', '?')} run on "
        f"{results.get('database', 'sqlite')}, {machine.get('cores', '?')} cores, "
        f"Python {machine.get('python', '?')}, commit {machine.get('commit', '?')})",
        fontsize=10,
    )
    fig.tight_layout(rect=(0, 0, 1, 0.98))  # room for the title
    fig.savefig(path, dpi=72)
    plt.close(fig)


def _echo_panel(ax: Any, results: dict[str, Any], goals: dict[str, float]) -> None:
    title = "Echo throughput relative to channels@daphne (higher is better)"
    if "echo_pingpong" not in results:
        _not_run(ax, title)
        return
    _bars(
        ax,
        [label for _, label in WORKLOADS],
        {
            name: [results[w][name]["rate"] / results[w][BASE]["rate"] for w, _ in WORKLOADS]
            for name in results["echo_pingpong"]
        },
        0.13,
    )
    ax.axhline(1.0, color="black", linewidth=0.8)
    _goal(ax, goals.get("echo_ratio_min"))
    ax.set_title(title)
    ax.legend(fontsize=7)


def _cpu_panel(ax: Any, results: dict[str, Any], goals: dict[str, float]) -> None:
    title = "Server CPU per echo message, µs (lower is better)"
    if "echo_pingpong" not in results:
        _not_run(ax, title)
        return
    _bars(
        ax,
        [label for _, label in WORKLOADS],
        {
            name: [results[w][name]["server_cpu_us"] for w, _ in WORKLOADS]
            for name in results["echo_pingpong"]
        },
        0.13,
    )
    ax.set_title(title)


def _logins_panel(ax: Any, results: dict[str, Any], goals: dict[str, float]) -> None:
    """Logins/s of every service; the title gives tracked ÷ untracked at several clients."""
    title = "Logins/s (higher is better)"
    logins, many = results.get("logins"), results.get("logins_concurrent")
    if not logins or not many:
        _not_run(ax, title)
        return
    workers = results.get("config", {}).get("login_workers", "?")
    names = list(logins)
    _bars(
        ax,
        [name.replace("@", "\n@") for name in names],
        {
            "one at a time": [logins[n]["rate"] for n in names],
            f"{workers} clients": [many[n]["rate"] for n in names],
        },
        0.35,
    )
    if TRACKED in many and APPWS in many:
        ratio = many[TRACKED]["rate"] / many[APPWS]["rate"]
        goal = goals.get("logins_tracked_per_untracked", "?")
        title += f"\ntracking on ÷ off at {workers} clients: {ratio:.2f} (goal ≥ {goal})"
    ax.tick_params(axis="x", labelsize=7)
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=7)


def _fanout_rows(results: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    fanout = results.get("fanout", {})
    return [
        (f"{layer}: {name}", row)
        for layer in ("memory", "redis")
        for name, row in fanout.get(layer, {}).items()
        if name != "skipped"
    ]


def _fanout_panel(ax: Any, results: dict[str, Any], goals: dict[str, float]) -> None:
    rows = _fanout_rows(results)
    subscribers = f" to {rows[0][1]['subscribers']} subscribers" if rows else ""
    title = f"Fan-out{subscribers}, ms (lower is better)"
    if not rows:
        _not_run(ax, title)
        return
    _bars(
        ax,
        [label.replace(": ", ":\n").replace("@daphne", "") for label, _ in rows],
        {"p50": [r["p50_ms"] for _, r in rows], "p99": [r["p99_ms"] for _, r in rows]},
        0.35,
    )
    ax.tick_params(axis="x", labelsize=7)
    _goal(ax, goals.get("fanout_p99_ms_memory"))
    ax.set_title(title)
    ax.legend(fontsize=7)


def _fanout_ratio_panel(ax: Any, results: dict[str, Any], goals: dict[str, float]) -> None:
    """p99 in memory ÷ raw websockets' (daphne, uvicorn); through Redis ÷ in memory."""
    title = "Fan-out p99 ratios (lower is better; dashed: goals)"
    fanout = results.get("fanout", {})
    memory, redis = fanout.get("memory", {}), fanout.get("redis", {})
    raw = memory.get(RAW, {}).get("p99_ms")
    # (label, ratio, colour): blue against websockets in memory, orange Redis ÷ memory.
    bars: list[tuple[str, float, str]] = []
    for name, row in memory.items():
        if raw and name not in (RAW, BASE):
            bars.append((f"{name}\n÷ websockets", row["p99_ms"] / raw, "tab:blue"))
    for name, row in redis.items():
        service = name.removesuffix(" x2")
        base = memory.get(service, {}).get("p99_ms") if name != "skipped" else None
        if base:
            label = f"{service.replace('@daphne', '')} Redis\n÷ in memory"
            bars.append((label, row["p99_ms"] / base, "tab:orange"))
    if not bars:
        _not_run(ax, title)
        return
    ax.bar(
        range(len(bars)),
        [value for _, value, _ in bars],
        0.6,
        color=[colour for *_, colour in bars],
    )
    ax.set_xticks(range(len(bars)), [label for label, *_ in bars])
    ax.tick_params(axis="x", labelsize=7)
    for key, colour in (
        ("fanout_memory_per_raw_p99", "tab:blue"),
        ("fanout_redis_per_memory_p99", "tab:orange"),
    ):
        if key in goals:
            ax.axhline(goals[key], color=colour, linewidth=0.8, linestyle="--")
    ax.set_title(title)


def _memory_panel(ax: Any, results: dict[str, Any], goals: dict[str, float]) -> None:
    title = "Server memory per idle session, KiB (lower is better)"
    memory = results.get("memory")
    if not memory:
        _not_run(ax, title)
        return
    steps = list(next(iter(memory.values()))["sessions"])
    _bars(
        ax,
        [name.replace("@", "\n@") for name in memory],
        {
            f"{step} sessions": [
                row["sessions"][step]["per_session_kib"] for row in memory.values()
            ]
            for step in steps
        },
        0.35,
    )
    _goal(ax, goals.get("kib_per_session"))
    ax.tick_params(axis="x", labelsize=7)
    ax.set_title(title)
    ax.legend(fontsize=7)


def _pbx_panel(ax: Any, results: dict[str, Any], goals: dict[str, float]) -> None:
    title = "Round trips with a FakePbx, seen by the client, ms (lower is better)"
    row = results.get("pbx", {}).get(APPWS)
    if not row:
        _not_run(ax, title)
        return
    kinds = [
        ("echo", "Echo"),
        ("consumer", "AskPbx\n(self.request)"),
        ("remote", "AskPbxRemote\n(appws.pbx.arequest, Redis)"),
    ]
    shown = [(kind, label) for kind, label in kinds if f"{kind}_p50_ms" in row]
    _bars(
        ax,
        [label for _, label in shown],
        {p: [row[f"{kind}_{p}_ms"] for kind, _ in shown] for p in ("p50", "p99")},
        0.35,
    )
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=7)


def _replication_panel(ax: Any, results: dict[str, Any], goals: dict[str, float]) -> None:
    title = "Initial copy of a PBX's users, rows/s (higher is better)"
    replication = results.get("replication")
    if not replication or "ratio" not in replication:
        _not_run(ax, title)
        return
    names = [name for name in (APPWS, "plain script") if name in replication]
    ax.bar(range(len(names)), [replication[name]["rate"] for name in names], 0.5)
    ax.set_xticks(range(len(names)), names)
    goal = goals.get("replication_per_plain", "?")
    ax.set_title(
        f"{title}\n{replication.get('users', '?')} users, appws ÷ plain script: "
        f"{replication['ratio']:.2f} (goal ≥ {goal})",
        fontsize=10,
    )


def _storm_panel(ax: Any, results: dict[str, Any], goals: dict[str, float]) -> None:
    """Seconds until every socket is open, and until every session is logged in."""
    title = "Login storm, s (lower is better)"
    storm = results.get("storm")
    parts = [storm.get(mode) if isinstance(storm, dict) else None for mode in ("open", "login")]
    if not all(isinstance(part, dict) and "all_s" in part for part in parts):
        _not_run(ax, title)
        return
    assert isinstance(storm, dict)
    opened, logged_in = parts
    assert opened is not None and logged_in is not None
    label = (
        f"{storm.get('sessions', '?'):,} at once"
        if isinstance(storm.get("sessions"), int)
        else "storm"
    )
    _bars(
        ax,
        [label, "half of them"],
        {
            "all sockets open": [opened["all_s"], opened.get("p50_s", 0.0)],
            "all logged in": [logged_in["all_s"], logged_in.get("p50_s", 0.0)],
        },
        0.35,
    )
    bad = sum(int(part.get(key, 0)) for part in parts for key in ("refused", "lost", "failed"))
    ratio = storm.get("ratio")
    note = (
        f"{ratio:.2f}x (goal <= {goals.get('storm_ratio', 2.0):g}), {bad} refused/lost/failed"
        if isinstance(ratio, (int, float))
        else ""
    )
    ax.tick_params(axis="x", labelsize=7)
    ax.set_title("\n".join([title, note]) if note else title, fontsize=10)
    ax.legend(fontsize=7)

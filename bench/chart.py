"""The chart of a run: one PNG, five panels, small enough to commit."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

BASE = "channels@daphne"
WORKLOADS = (
    ("echo_pingpong", "ping-pong"),
    ("echo_pipelined", "pipelined"),
    ("echo_connections", "50 connections"),
)


def _bars(ax: Any, groups: list[str], series: dict[str, list[float]], width: float) -> None:
    count = len(series)
    for index, (name, values) in enumerate(series.items()):
        offsets = [g + (index - (count - 1) / 2) * width for g in range(len(groups))]
        ax.bar(offsets, values, width, label=name)
    ax.set_xticks(range(len(groups)), groups)


def draw(results: dict[str, Any], path: Path) -> None:
    """Write the chart of ``results`` to ``path``."""
    fig, axes = plt.subplots(3, 2, figsize=(11, 11))
    names = list(results["echo_pingpong"])

    ax = axes[0][0]
    _bars(
        ax,
        [label for _, label in WORKLOADS],
        {
            name: [results[w][name]["rate"] / results[w][BASE]["rate"] for w, _ in WORKLOADS]
            for name in names
        },
        0.13,
    )
    ax.axhline(1.0, color="black", linewidth=0.8)
    ax.axhline(1.3, color="grey", linewidth=0.8, linestyle="--")
    ax.set_title("Echo throughput relative to channels@daphne (higher is better)")
    ax.legend(fontsize=7)

    ax = axes[0][1]
    _bars(
        ax,
        [label for _, label in WORKLOADS],
        {name: [results[w][name]["server_cpu_us"] for w, _ in WORKLOADS] for name in names},
        0.13,
    )
    ax.set_title("Server CPU per echo message, µs (lower is better)")

    ax = axes[1][0]
    rows = [
        (f"{layer}: {name}", row)
        for layer in ("memory", "redis")
        for name, row in results["fanout"][layer].items()
        if name != "skipped"
    ]
    labels = [label.replace("@daphne", "") for label, _ in rows]
    _bars(
        ax,
        labels,
        {"p50": [r["p50_ms"] for _, r in rows], "p99": [r["p99_ms"] for _, r in rows]},
        0.35,
    )
    ax.tick_params(axis="x", labelsize=7)
    subscribers = rows[0][1]["subscribers"] if rows else 0
    ax.axhline(100, color="grey", linewidth=0.8, linestyle="--")
    ax.set_title(f"Fan-out to {subscribers} subscribers, ms (lower is better)")
    ax.legend(fontsize=7)

    ax = axes[1][1]
    memory = results["memory"]
    steps = list(next(iter(memory.values()))["sessions"])
    _bars(
        ax,
        list(memory),
        {
            f"{step} sessions": [
                row["sessions"][step]["per_session_kib"] for row in memory.values()
            ]
            for step in steps
        },
        0.35,
    )
    ax.axhline(64, color="grey", linewidth=0.8, linestyle="--")
    ax.tick_params(axis="x", labelsize=7)
    ax.set_title("Server memory per idle session, KiB (lower is better)")
    ax.legend(fontsize=7)

    _pbx_panel(axes[2][0], results["pbx"]["appws@daphne"])
    axes[2][1].axis("off")

    machine = results["machine"]
    fig.suptitle(
        f"appws benchmarks ({results['config']['mode']} run, {machine['cores']} cores, "
        f"Python {machine['python']}, commit {machine['commit']})",
        fontsize=10,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=72)
    plt.close(fig)


def _pbx_panel(ax: Any, row: dict[str, Any]) -> None:
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
    ax.set_title("Round trips with a FakePbx, seen by the client, ms (lower is better)")
    ax.legend(fontsize=7)

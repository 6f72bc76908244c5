"""The benchmark harness runs end to end in its smallest configuration.

Asserts on the shape of the results only, never on timings (docs/performance.md).
"""

from __future__ import annotations

import os
import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from bench.run import Config, run_all, table

pytestmark = pytest.mark.e2e

ECHO_WORKLOADS = ("echo_pingpong", "echo_pipelined", "echo_connections")


def test_smallest_run_reports_every_workload(tmp_path: Path) -> None:
    config = Config.preset("smoke")
    if shutil.which("redis-server") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("redis-server is missing: apt-get install -y redis-server")
        config = replace(config, redis=False)

    results = run_all(config, tmp_path)

    assert (tmp_path / "smoke-results.json").stat().st_size > 0
    assert (tmp_path / "smoke-chart.png").read_bytes().startswith(b"\x89PNG")
    for workload in (*ECHO_WORKLOADS, "logins", "logins_concurrent"):
        assert results[workload], workload
        for name, row in results[workload].items():
            assert row["rate"] > 0, (workload, name)
            assert len(row["runs"]) == config.repeats
    assert {"appws@daphne", "channels@daphne", "appws@uvicorn", "websockets"} <= set(
        results["echo_pingpong"]
    )
    fanout = results["fanout"]["memory"]["appws@daphne"]
    assert fanout["subscribers"] == config.fanout_subscribers
    assert len(fanout["runs"]) == config.fanout_notifies
    assert fanout["p50_ms"] > 0
    if config.redis:
        assert results["fanout"]["redis"]["appws@daphne x2"]["p99_ms"] > 0
    for row in results["memory"].values():
        assert row["rss_base_kib"] > 0
        assert set(row["sessions"]) == {str(step) for step in config.memory_steps}
    for row in results["churn"].values():
        assert row["cycles"] > 0
        assert row["before"]["tasks"] > 0 and row["after"]["rss_kib"] > 0
    attack = results["attack"]["appws@daphne"]
    assert attack["attackers"] == config.attackers and attack["attack_frames"] > 0
    assert attack["idle_p99_ms"] > 0 and attack["p99_ratio"] > 0
    pbx = results["pbx"]["appws@daphne"]
    assert pbx["round_trips"] == config.pbx_round_trips
    assert pbx["echo_p99_ms"] > 0 and pbx["consumer_p50_ratio"] > 0
    assert pbx["consumer_inner_p99_ms"] > 0
    if config.redis:
        assert pbx["remote_p99_ms"] > 0 and pbx["remote_p99_ratio"] > 0
    else:
        assert "remote_p99_ms" not in pbx and results["pbx"]["remote_skipped"]
    replication = results["replication"]
    assert replication["users"] == config.replication_users
    for name in ("appws@daphne", "plain script"):
        assert replication[name]["rate"] > 0, name
        assert len(replication[name]["runs"]) == config.repeats
    assert replication["ratio"] > 0
    storm = results["storm"]
    assert storm["sessions"] == config.storm_sessions and storm["client_processes"] >= 1
    for mode in ("open", "login"):
        assert len(storm[mode]["runs"]) == config.repeats
        assert storm[mode]["all_s"] > 0
        for run in storm[mode]["runs"]:  # every session counted once, whatever became of it
            outcomes = ("ok", "refused", "lost", "failed")
            assert sum(run[key] for key in outcomes) == config.storm_sessions, (mode, run)
    assert storm["ratio"] > 0
    storm_targets = [v["target"] for v in results["verdicts"] if "login storm" in v["target"]]
    assert len(storm_targets) == 2
    assert {verdict["target"] for verdict in results["verdicts"]} >= {
        "fan-out p99 in memory (ms)",
        "echo_pingpong: appws / channels on daphne",
        "victim p99 under attack / idle p99",
        "PBX request from the consumer / Echo, p50",
        "replication rows/s: appws / plain script",
    }
    assert "| appws@daphne |" in table(results)
    assert "| handshake + AppChallenge + AppLogin |" in table(results)

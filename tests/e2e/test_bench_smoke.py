"""The benchmark harness runs end to end in its smallest configuration.

Asserts on the shape of the results only, never on timings (docs/performance.md).
"""

from __future__ import annotations

import os
import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from bench.run import DATABASE_WORKLOADS, Config, file_prefix, main, run_all, table
from tests.conftest import require_postgres

pytestmark = pytest.mark.e2e

ECHO_WORKLOADS = ("echo_pingpong", "echo_pipelined", "echo_connections")


def database_verdicts(config: Config) -> set[str]:
    """The verdict rows of the workloads that touch the database (DATABASE_WORKLOADS)."""
    return {
        f"logins/s at {config.login_workers} clients: tracking+user mapping on / off",
        "churn appws+tracking@daphne: task growth",
        "replication rows/s: appws / plain script",
    }


def test_smallest_run_reports_every_workload(tmp_path: Path) -> None:
    config = Config.preset("smoke")
    if shutil.which("redis-server") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("redis-server is missing: apt-get install -y redis-server")
        config = replace(config, redis=False)

    results = run_all(config, tmp_path)

    assert (tmp_path / "smoke-results.json").stat().st_size > 0
    assert (tmp_path / "smoke-chart.png").read_bytes().startswith(b"\x89PNG")
    assert results["database"] == "sqlite"
    assert results["machine"]["versions"]["sqlite"]
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
    on_uvicorn = results["fanout"]["memory"]["appws@uvicorn"]
    assert on_uvicorn["subscribers"] == config.fanout_subscribers and on_uvicorn["p99_ms"] > 0
    assert results["fanout"]["memory"]["websockets"]["p99_ms"] > 0
    assert results["logins_concurrent"]["appws+tracking@daphne"]["rate"] > 0
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
        assert pbx["floor_p99_ms"] > 0 and pbx["remote_inner_p99_floor_ratio"] > 0
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
        "fan-out p99 in memory: appws / websockets",
        "fan-out p99: through Redis / in memory",
        "KiB per idle session at 20",
        *database_verdicts(config),
    }
    measured = {verdict["target"]: verdict for verdict in results["verdicts"]}
    assert measured["fan-out p99 in memory: appws / websockets"]["value"] > 0
    assert (measured["fan-out p99: through Redis / in memory"]["met"] is None) == (not config.redis)
    assert "| appws@daphne |" in table(results)
    assert "| memory: appws@uvicorn |" in table(results)
    assert "| handshake + AppChallenge + AppLogin |" in table(results)


def test_database_workloads_on_postgres(tmp_path: Path) -> None:
    """``--db postgres --only logins,churn,replication`` at the smallest size: the
    workloads whose servers write to the database, on a throwaway PostgreSQL."""
    require_postgres()  # a failure under CI=true when PostgreSQL is not installed
    config = replace(Config.preset("smoke"), database="postgres", workloads=DATABASE_WORKLOADS)

    results = run_all(config, tmp_path)

    assert (tmp_path / "smoke-postgres-results.json").stat().st_size > 0
    assert (tmp_path / "smoke-postgres-chart.png").read_bytes().startswith(b"\x89PNG")
    assert results["database"] == "postgres"
    assert results["machine"]["versions"]["postgresql"][:2].isdigit()
    assert set(DATABASE_WORKLOADS) <= set(results) and "echo_pingpong" not in results
    for name, row in results["logins_concurrent"].items():
        assert row["rate"] > 0, name
    assert results["churn"]["appws+tracking@daphne"]["cycles"] == config.churn_tracked_cycles
    assert results["replication"]["appws@daphne"]["rate"] > 0
    assert results["replication"]["ratio"] > 0
    assert {verdict["target"] for verdict in results["verdicts"]} >= database_verdicts(config)
    assert "into PostgreSQL" in table(results)


def test_postgres_without_its_programs_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    def missing() -> Path:
        raise FileNotFoundError("no initdb")

    monkeypatch.setattr("appws.testing.postgres.find_postgres_bin", missing)

    with pytest.raises(SystemExit) as exit_info:
        main(["--smoke", "--db", "postgres", "--out", str(tmp_path)])

    assert exit_info.value.code == 2
    error = capsys.readouterr().err
    assert "--db postgres" in error and "apt-get install postgresql" in error
    assert not list(tmp_path.iterdir())


def test_unknown_workload_names_the_choices(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--smoke", "--only", "logins,nope"])

    assert exit_info.value.code == 2
    error = capsys.readouterr().err
    assert "'nope'" in error and "replication" in error


@pytest.mark.parametrize(
    ("mode", "database", "prefix"),
    [
        ("full", "sqlite", ""),
        ("quick", "sqlite", "quick-"),
        ("full", "postgres", "postgres-"),
        ("quick", "postgres", "quick-postgres-"),
    ],
)
def test_result_files_are_named_after_the_run(mode: str, database: str, prefix: str) -> None:
    assert file_prefix(replace(Config.preset(mode), database=database)) == prefix

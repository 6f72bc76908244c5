"""``appws.testing``'s process helpers, used as a user's project would use them."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import websockets

from appws.testing import DaphneProcess, RedisServer, free_port, wait_for_port
from tests.conftest import require_postgres, require_tool
from tests.e2e.daphne import ROOT, migrate
from tests.e2e.databases import e2e_database

pytestmark = pytest.mark.e2e


async def test_daphne_serves_a_project_and_stops_on_leaving(tmp_path) -> None:
    env = {"APPWS_DEMO_DB": e2e_database(tmp_path)}
    migrate({"DJANGO_SETTINGS_MODULE": "demo_site.settings", **env})
    with DaphneProcess(
        "demo_site.asgi:application", settings="demo_site.settings", env=env, cwd=ROOT
    ) as server:
        assert server.running and server.port != 0
        async with websockets.connect(f"{server.url}/apps/echo") as ws:
            await ws.send(json.dumps({"mt": "AppChallenge"}))
            assert json.loads(await ws.recv())["mt"] == "AppChallengeResult"
    assert not server.running


def test_daphne_that_cannot_start_fails_at_once_with_its_output() -> None:
    server = DaphneProcess("no_such_project.asgi:application", cwd=ROOT)
    with pytest.raises(RuntimeError, match="exited with code") as error:
        server.start()
    assert "no_such_project" in str(error.value)
    assert not server.running


def test_redis_server_answers_until_stopped_and_restarts_on_its_port() -> None:
    redis = RedisServer(require_tool("redis-server", "redis-server"))
    with redis:
        assert redis.ping()
        port = redis.port
    assert not redis.ping() and not redis.running
    with redis:
        assert redis.port == port and redis.ping()


def test_wait_for_port_fails_when_the_server_exits_first() -> None:
    process = subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"])
    with pytest.raises(RuntimeError, match="exited with code 3"):
        wait_for_port(free_port(), process)


@pytest.mark.parametrize(("durable", "fsync"), [(False, "off"), (True, "on")])
def test_postgres_server_syncs_commits_to_disk_only_when_durable(durable, fsync) -> None:
    import psycopg

    with require_postgres(durable=durable) as server:
        url = f"postgresql://{server.user}@127.0.0.1:{server.port}/postgres"
        with psycopg.connect(url) as connection:
            row = connection.execute("SHOW fsync").fetchone()
    assert row is not None and row[0] == fsync

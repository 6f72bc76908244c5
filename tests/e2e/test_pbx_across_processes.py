"""appws.pbx from another process: the FakePbx on process A, the call on process B."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from appws.testing import FakePbx
from tests.e2e.clusters import post_json, two_daphnes
from tests.e2e.daphne import ROOT, DaphneProcess

pytestmark = pytest.mark.e2e

APP = "pbxtest"  # tests/e2e/pbx_service.py; password "pbxtest"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory) -> Iterator[tuple[dict[str, str], DaphneProcess, DaphneProcess]]:
    # B keeps the session it found for the whole module: what it kept goes stale.
    with two_daphnes(tmp_path_factory.mktemp("pbx"), APPWS_PBX_CACHE_SECONDS="3600") as c:
        yield c.env, c.first, c.second


def call_view(server: DaphneProcess, message: dict[str, Any], api: str) -> tuple[int, dict]:
    return post_json(server, "/test/pbx", {"app": APP, "api": api, "message": message}, 20)


def call_command(env: dict[str, str], message: dict[str, Any]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", "appws_pbx", "call", APP, json.dumps(message)],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def fake_pbx(server: DaphneProcess) -> FakePbx:
    return FakePbx(
        f"{server.url}/apps/{APP}",
        password="pbxtest",
        sip="pbxtest-obj",
        pbx="pbx-a",
        app_passwords={APP: "pbxtest"},
    )


async def test_a_view_and_the_command_on_b_reach_the_pbx_on_a(cluster) -> None:
    env, first, second = cluster
    async with fake_pbx(first) as pbx:
        # The registry row is written when PbxInfo arrives, before the service's own hook.
        await pbx.wait_for(direction="received", api="PbxApi", mt="GetNodeInfo")
        status, body = await asyncio.to_thread(call_view, second, {"mt": "GetNodeInfo"}, "PbxApi")
        assert status == 200, body
        assert body["reply"]["mt"] == "GetNodeInfoResult" and body["reply"]["name"] == "root"
        done = await asyncio.to_thread(
            call_command, env, {"api": "PbxAdminApi", "mt": "GetObject", "h323": "pbxtest-obj"}
        )
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["h323"] == "pbxtest-obj"
        # Both requests went over the PBX's one socket, held by process A.
        assert pbx.received(api="PbxApi", mt="GetNodeInfo")
        assert pbx.received(api="PbxAdminApi", mt="GetObject", h323="pbxtest-obj")


async def test_with_no_pbx_connected_the_call_fails_as_documented(cluster) -> None:
    env, _first, second = cluster
    status, body = await asyncio.to_thread(call_view, second, {"mt": "GetNodeInfo"}, "PbxApi")
    assert status == 502 and body["error"] == "NoPbxConnected", body
    done = await asyncio.to_thread(call_command, env, {"api": "PbxApi", "mt": "GetNodeInfo"})
    assert done.returncode == 5, (done.stdout, done.stderr)


async def test_b_reaches_the_pbx_that_connected_again_to_a_and_sees_it_leave(cluster) -> None:
    _env, first, second = cluster
    ask = {"mt": "GetNodeInfo"}
    async with fake_pbx(first) as pbx:
        await pbx.wait_for(direction="received", api="PbxApi", mt="GetNodeInfo")
        status, body = await asyncio.to_thread(call_view, second, {**ask, "n": 1}, "PbxApi")
        assert status == 200, body
    # The PBX connects again: a new session on A, and nobody on B is told. B's call finds
    # out without waiting for its timeout (5 s, then PeerTimeout) and asks the new one.
    async with fake_pbx(first) as pbx:
        await pbx.wait_for(direction="received", api="PbxApi", mt="GetNodeInfo")
        status, body = await asyncio.to_thread(call_view, second, {**ask, "n": 2}, "PbxApi")
        assert status == 200, body
        assert pbx.received(api="PbxApi", mt="GetNodeInfo", n=2)
    status, body = await asyncio.to_thread(call_view, second, {**ask, "n": 3}, "PbxApi")
    assert status == 502 and body["error"] == "NoPbxConnected", body

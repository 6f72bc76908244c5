"""A PBX session over a real socket on daphne: the service calls the PBX and gets its replies."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import websockets

from appws import protocol
from tests.e2e.daphne import services_server
from tests.e2e.databases import e2e_database

pytestmark = pytest.mark.e2e


async def receive(ws) -> dict:
    return json.loads(await ws.recv())


async def answer(ws, request: dict, **fields) -> None:
    result = {"api": request["api"], "mt": f"{request['mt']}Result", "src": request["src"]}
    await ws.send(json.dumps({**result, **fields}))


async def test_the_service_calls_the_pbx_on_a_pbx_session(tmp_path: Path) -> None:
    with services_server(e2e_database(tmp_path)) as server:
        async with websockets.connect(f"{server.url}/apps/pbxpeer") as ws:
            await ws.send(json.dumps({"mt": "AppChallenge"}))
            challenge = (await receive(ws))["challenge"]
            login = {
                "mt": "AppLogin",
                "app": "pbxpeer",
                "domain": "example.com",
                "sip": "peer-obj",
                "info": {"appobj": "peer-obj"},
            }
            login["digest"] = protocol.login_digest(login, challenge, "pbxpeer")
            await ws.send(protocol.encode_login(login))
            assert (await receive(ws))["ok"] is True
            pbx_info = {"mt": "PbxInfo", "pbx": "pbx-main", "apis": ["PbxApi", "PbxAdminApi"]}
            await ws.send(json.dumps(pbx_info))

            node = await receive(ws)
            assert (node["api"], node["mt"]) == ("PbxApi", "GetNodeInfo")
            # Results and indications of a PBX are never answered with an error.
            await ws.send(json.dumps({"api": "PbxApi", "mt": "GetNodeInfoResult", "src": "stray"}))
            await ws.send(json.dumps({"api": "RCC", "mt": "CallInfo", "src": "c1"}))
            await ws.send("{not json")
            await answer(ws, node, name="node-1")
            users = [await receive(ws) for _ in range(20)]
            assert {u["mt"] for u in users} == {"GetObject"}
            for user in reversed(users):
                await answer(ws, user, cn=user["h323"].upper())
            report = await receive(ws)
            assert report == {
                "mt": "Report",
                "node": "node-1",
                "users": [f"U{n}" for n in range(20)],
                "api": "PbxApi",
            }

            # A handler that awaits its own request to the PBX.
            update = {"api": "PbxTableUsers", "mt": "ReplicateUpdate", "columns": {"guid": "g"}}
            await ws.send(json.dumps(update))
            lookup = await receive(ws)
            assert lookup["guid"] == "g"
            await answer(ws, lookup, cn="Alice")
            assert await receive(ws) == {"mt": "Updated", "cn": "Alice", "api": "PbxApi"}

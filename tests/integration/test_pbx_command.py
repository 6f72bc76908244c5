"""manage.py appws_pbx: the connected PBXs, and a call printing the PBX's reply."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from asgiref.sync import sync_to_async
from django.core.management import call_command
from django.core.management.base import CommandError

from appws.layer import events
from tests.integration.test_pbx_calls import row_on_another_process
from tests.pbx_standin import StandIn

pytestmark = pytest.mark.django_db(transaction=True)


def run(*args: str) -> str:
    out = StringIO()
    call_command("appws_pbx", *args, stdout=out)
    return out.getvalue()


def fails(*args: str) -> tuple[int, str, str]:
    out = StringIO()
    with pytest.raises(CommandError) as caught:
        call_command("appws_pbx", *args, stdout=out)
    return caught.value.returncode, str(caught.value), out.getvalue()


async def test_the_list_shows_each_pbx_with_its_process_and_apis() -> None:
    standin = await StandIn(apis=("PbxApi", "PbxSignal")).connect()
    await sync_to_async(row_on_another_process)()
    text = await sync_to_async(run)()
    lines = text.splitlines()
    assert len(lines) == 3 and lines[-1] == "2 PBX connection(s)."
    assert any(
        "pbxapp-obj@pbx-main.example.com" in line and "APIs: PbxApi, PbxSignal" in line
        for line in lines
    )
    assert any("otherhost:2" in line and "APIs: PbxApi" in line for line in lines)
    await standin.disconnect()


async def test_the_json_list_has_identity_process_channel_and_apis() -> None:
    standin = await StandIn(apis=("PbxApi",)).connect()
    [row] = json.loads(await sync_to_async(run)("--json"))
    assert row["identity"] == "pbxapp-obj@pbx-main.example.com"
    assert (row["app"], row["domain"], row["pbx"], row["sip"]) == (
        "pbxapp",
        "example.com",
        "pbx-main",
        "pbxapp-obj",
    )
    assert row["apis"] == ["PbxApi"] and row["channel"] == standin.channel
    assert row["process"] and row["connected_at"]
    await standin.disconnect()
    assert json.loads(await sync_to_async(run)("--json")) == []
    assert (await sync_to_async(run)()).strip() == "0 PBX connection(s)."


async def test_call_prints_the_reply_as_json() -> None:
    standin = await StandIn().connect()
    text = await sync_to_async(run)("call", "pbxapp", '{"api":"PbxApi","mt":"GetNodeInfo"}')
    assert json.loads(text) == {"api": "PbxApi", "mt": "GetNodeInfoResult"}
    await standin.disconnect()


async def test_call_with_pbx_and_timeout_narrows_and_passes_the_timeout() -> None:
    main = await StandIn().connect()
    other = await StandIn(pbx="pbx-b").connect()
    code, text, _ = await sync_to_async(fails)("call", "pbxapp", '{"api":"PbxApi","mt":"X"}')
    assert code == 2 and "--pbx" in text
    await sync_to_async(run)(
        "call", "pbxapp", '{"api":"PbxApi","mt":"X"}', "--pbx", "pbx-b", "--timeout", "2.5"
    )
    [event] = other.received
    assert event["timeout"] == 2.5 and main.received == []
    await main.disconnect()
    await other.disconnect()


async def test_the_pbxs_error_exits_4_and_prints_its_reply() -> None:
    reply = {"api": "PbxApi", "mt": "XResult", "error": "7"}

    def answer(event: dict) -> dict:
        return events.pbx_reply(event["id"], reply=reply, error="peer-error", code="7")

    standin = await StandIn(answer=answer).connect()
    code, text, out = await sync_to_async(fails)("call", "pbxapp", '{"api":"PbxApi","mt":"X"}')
    assert code == 4 and "7" in text
    assert json.loads(out) == reply
    await standin.disconnect()


async def test_an_api_not_enabled_exits_4() -> None:
    standin = await StandIn(apis=("PbxSignal",)).connect()
    code, text, _ = await sync_to_async(fails)(
        "call", "pbxapp", '{"api":"PbxApi","mt":"X"}', "--pbx", "pbx-main"
    )
    assert code == 4 and "PbxApi" in text
    await standin.disconnect()


@pytest.mark.parametrize("args", [("call", "pbxapp", '{"api":"PbxApi","mt":"X"}')])
async def test_no_pbx_connected_exits_5(args: tuple[str, ...]) -> None:
    code, text, _ = await sync_to_async(fails)(*args)
    assert code == 5 and "No PBX" in text


async def test_a_pbx_on_another_process_through_an_in_memory_layer_exits_5() -> None:
    await sync_to_async(row_on_another_process)()
    code, text, _ = await sync_to_async(fails)("call", "pbxapp", '{"api":"PbxApi","mt":"X"}')
    assert code == 5 and "in-memory layer" in text


@pytest.mark.parametrize(
    "message", ["{not json", '["api"]', '{"mt":"X"}', '{"api":"PbxApi"}', '{"api":"PbxApi","mt":1}']
)
def test_bad_json_exits_2(message: str) -> None:
    code, _text, _ = fails("call", "pbxapp", message)
    assert code == 2

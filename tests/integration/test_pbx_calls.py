"""appws.pbx: calling a connected PBX's API from anywhere, and every way it can fail."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from channels.exceptions import ChannelFull
from channels.layers import get_channel_layer
from django.utils import timezone

from appws import LayerUnavailable, pbx
from appws.exceptions import ApiNotEnabled, PeerError, PeerTimeout, SessionEnded
from appws.layer import events
from appws.pbx import AmbiguousPbx, NoPbxConnected, PbxBusy, PbxUnreachable
from appws.pbx import call as pbx_call
from tests.pbx_standin import StandIn, row_of_another_process

pytestmark = pytest.mark.django_db(transaction=True)

NODE_INFO = {"mt": "GetNodeInfo"}


async def test_a_request_reaches_the_pbx_session_and_returns_its_reply() -> None:
    standin = await StandIn().connect()
    reply = await pbx.arequest("pbxapp", {"mt": "GetNodeInfo", "x": 1}, api="PbxApi", timeout=3)
    assert reply == {"mt": "GetNodeInfoResult", "api": "PbxApi", "x": 1}
    [event] = standin.received
    assert (event["type"], event["api"], event["message"], event["timeout"]) == (
        events.PBX_REQUEST,
        "PbxApi",
        {"mt": "GetNodeInfo", "x": 1},
        3.0,
    )
    await standin.disconnect()


async def test_the_sync_wrapper_works_from_a_view_thread() -> None:
    standin = await StandIn().connect()
    reply = await sync_to_async(pbx.request)("pbxapp", NODE_INFO, api="PbxApi")
    assert reply["mt"] == "GetNodeInfoResult"
    await standin.disconnect()


async def test_send_delivers_without_a_reply_channel() -> None:
    standin = await StandIn().connect()
    await pbx.asend("pbxapp", {"mt": "Signaling", "call": -7}, api="PbxSignal")
    event = await standin.next_event()
    assert (event["type"], event["reply_to"], event["message"]["call"]) == (
        events.PBX_REQUEST,
        None,
        -7,
    )
    await sync_to_async(pbx.send)("pbxapp", {"mt": "Signaling", "call": -8}, api="PbxSignal")
    assert (await standin.next_event())["message"]["call"] == -8
    await standin.disconnect()


async def test_no_pbx_connected_names_the_app_and_the_api() -> None:
    with pytest.raises(NoPbxConnected) as caught:
        await pbx.arequest("pbxapp", NODE_INFO, api="PbxApi")
    assert (caught.value.app, caught.value.api, caught.value.without_api) == (
        "pbxapp",
        "PbxApi",
        (),
    )
    assert "'pbxapp'" in str(caught.value) and "'PbxApi'" in str(caught.value)
    assert "no PBX of App 'pbxapp' is connected at all" in str(caught.value)


async def test_no_pbx_connected_says_which_pbxs_lack_the_api() -> None:
    standin = await StandIn(apis=("PbxSignal",)).connect()
    with pytest.raises(NoPbxConnected) as caught:
        await pbx.arequest("pbxapp", NODE_INFO, api="PbxApi")
    assert caught.value.without_api == (standin.info.identity,)
    assert "connected without it: pbxapp-obj@pbx-main.example.com" in str(caught.value)
    await standin.disconnect()


async def test_a_pbx_of_another_app_is_not_a_candidate() -> None:
    standin = await StandIn(app="notes").connect()
    with pytest.raises(NoPbxConnected):
        await pbx.arequest("pbxapp", NODE_INFO, api="PbxApi")
    await standin.disconnect()


async def test_several_pbxs_are_ambiguous_until_pbx_narrows_them() -> None:
    main = await StandIn().connect()
    other = await StandIn(pbx="pbx-b").connect()
    with pytest.raises(AmbiguousPbx) as caught:
        await pbx.arequest("pbxapp", NODE_INFO, api="PbxApi")
    assert set(caught.value.candidates) == {main.info.identity, other.info.identity}
    assert "pbxapp-obj@pbx-b.example.com" in str(caught.value)
    assert "pbx=" in str(caught.value)
    await pbx.arequest("pbxapp", NODE_INFO, api="PbxApi", pbx="pbx-b")
    await pbx.arequest("pbxapp", NODE_INFO, api="PbxApi", pbx=main.info.identity)
    await pbx.arequest("pbxapp", NODE_INFO, api="PbxApi", pbx={"pbx": "pbx-main"})
    assert (len(main.received), len(other.received)) == (2, 1)
    with pytest.raises(NoPbxConnected):
        await pbx.arequest("pbxapp", NODE_INFO, api="PbxApi", pbx="pbx-c")
    await main.disconnect()
    await other.disconnect()


async def test_a_named_pbx_without_the_api_raises_api_not_enabled() -> None:
    standin = await StandIn(apis=("PbxSignal",)).connect()
    with pytest.raises(ApiNotEnabled, match="tick it among the App object's APIs"):
        await pbx.arequest("pbxapp", NODE_INFO, api="PbxApi", pbx="pbx-main")
    assert standin.received == []
    await standin.disconnect()


def failing(error: str, **fields: object):  # type: ignore[no-untyped-def]
    def answer(event: dict[str, object]) -> dict[str, object]:
        return events.pbx_reply(str(event["id"]), error=error, **fields)  # type: ignore[arg-type]

    return answer


async def test_the_pbxs_own_error_raises_peer_error_with_its_reply() -> None:
    reply = {"api": "PbxAdminApi", "mt": "GetObjectResult", "error": "1", "errorText": "no"}
    standin = await StandIn(
        answer=failing("peer-error", reply=reply, code="1", text="no such object")
    ).connect()
    with pytest.raises(PeerError) as caught:
        await pbx.arequest("pbxapp", {"mt": "GetObject", "h323": "x"}, api="PbxAdminApi")
    assert (caught.value.code, caught.value.text, caught.value.reply) == (
        "1",
        "no such object",
        reply,
    )
    await standin.disconnect()


@pytest.mark.parametrize(
    ("error", "raised"),
    [
        ("timeout", PeerTimeout),
        ("api-not-enabled", ApiNotEnabled),
        ("ended", SessionEnded),
        ("busy", PbxBusy),
    ],
)
async def test_the_sessions_failures_map_to_their_exceptions(error: str, raised: type) -> None:
    standin = await StandIn(answer=failing(error)).connect()
    with pytest.raises(raised, match=re.escape("pbxapp-obj@pbx-main.example.com")):
        await pbx.arequest("pbxapp", NODE_INFO, api="PbxApi")
    await standin.disconnect()


async def test_no_answer_at_all_times_out(monkeypatch: pytest.MonkeyPatch) -> None:
    # The holding process died with the request: the caller stops waiting on its own.
    monkeypatch.setattr(pbx_call, "REPLY_MARGIN", 0.0)
    standin = await StandIn(answer=None).connect()
    with pytest.raises(PeerTimeout, match="its process may have stopped"):
        await pbx.arequest("pbxapp", NODE_INFO, api="PbxApi", timeout=0.05)
    await standin.disconnect()


async def test_a_full_channel_raises_pbx_busy() -> None:
    standin = await StandIn().connect(serve=False)  # a session that reads nothing
    layer = get_channel_layer()
    with pytest.raises(ChannelFull):  # fill it to the in-memory layer's capacity
        for _ in range(1000):
            await layer.send(standin.channel, events.pbx_replaced())
    with pytest.raises(PbxBusy, match="try again later"):
        await pbx.arequest("pbxapp", NODE_INFO, api="PbxApi")
    with pytest.raises(PbxBusy):
        await pbx.asend("pbxapp", NODE_INFO, api="PbxApi")
    await standin.disconnect()


async def test_an_unreachable_layer_raises_layer_unavailable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    standin = await StandIn().connect()
    layer = get_channel_layer()

    async def down(*args: object) -> None:
        raise ConnectionRefusedError("redis is down")

    monkeypatch.setattr(layer, "send", down)
    with pytest.raises(LayerUnavailable, match="nothing was sent"):
        await pbx.arequest("pbxapp", NODE_INFO, api="PbxApi")
    monkeypatch.undo()
    await standin.disconnect()


def row_on_another_process(last_seen_ago: timedelta = timedelta()) -> None:
    row_of_another_process("otherhost", "elsewhere!2", timezone.now() - last_seen_ago)


async def test_an_in_memory_layer_says_it_cannot_reach_another_process() -> None:
    await sync_to_async(row_on_another_process)()
    with pytest.raises(PbxUnreachable) as caught:
        await pbx.arequest("pbxapp", NODE_INFO, api="PbxApi")
    text = str(caught.value)
    assert "otherhost:2" in text and "in-memory layer" in text and "channels_redis" in text


async def test_a_pbx_on_a_stale_process_is_not_connected() -> None:
    await sync_to_async(row_on_another_process)(timedelta(hours=1))
    with pytest.raises(NoPbxConnected):
        await pbx.arequest("pbxapp", NODE_INFO, api="PbxApi")


@pytest.mark.parametrize(
    ("msg", "kwargs", "match"),
    [
        ({"x": 1}, {}, '"mt"'),
        ({"mt": "GetNodeInfo", "api": "PbxAdminApi"}, {}, "names the API"),
        (NODE_INFO, {"timeout": 0}, "positive number"),
    ],
)
async def test_bad_calls_are_value_errors(msg: dict, kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        await pbx.arequest("pbxapp", msg, api="PbxApi", **kwargs)


def test_appws_pbx_imports_without_django_settings() -> None:
    import subprocess
    import sys

    code = "import appws.pbx; appws.pbx.NoPbxConnected; import django.conf as c; "
    code += "assert not c.settings.configured"
    env = {"PATH": "/usr/bin:/bin"}
    subprocess.run([sys.executable, "-c", code], check=True, env=env)

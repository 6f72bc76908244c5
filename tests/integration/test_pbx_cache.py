"""appws.pbx keeps the PBX session it chose; what it does when that choice is outdated.

"Elsewhere" is a PBX connecting or disconnecting in another process: this process's
registry does not see it, only the rows change (tests/e2e/test_pbx_across_processes.py
has the same with two daphne processes).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from datetime import datetime, timezone
from types import SimpleNamespace
from typing import Any

import pytest
from channels.layers import get_channel_layer

from appws import LayerUnavailable, pbx
from appws.exceptions import ApiNotEnabled, PeerTimeout, SessionEnded
from appws.layer import events
from appws.pbx import AmbiguousPbx, NoPbxConnected, targets
from appws.pbx import call as pbx_call
from appws.pbx import registry as pbx_registry
from appws.pbx.connected import ConnectedPbx
from appws.pbx.replies import Replies
from appws.protocol import PbxIdentity
from tests.pbx_standin import StandIn, echo_reply

pytestmark = pytest.mark.django_db(transaction=True)

NODE_INFO = {"mt": "GetNodeInfo"}


def answering(name: str):  # type: ignore[no-untyped-def]
    """Answer as ``echo_reply`` does, saying which session answered."""

    def answer(event: dict[str, Any]) -> dict[str, Any]:
        reply = echo_reply(event)
        reply["reply"]["session"] = name
        return reply

    return answer


@pytest.fixture
def lookups(monkeypatch: pytest.MonkeyPatch) -> list[str | None]:
    """The Apps whose rows were read, one entry per read."""
    seen: list[str | None] = []
    real = targets.connected_pbxs

    def counting(app: str | None = None) -> list[ConnectedPbx]:
        seen.append(app)
        return real(app)

    monkeypatch.setattr(targets, "connected_pbxs", counting)
    return seen


@pytest.fixture
def quick(monkeypatch: pytest.MonkeyPatch) -> None:
    """A call reads the rows again after 20 ms without an answer; no margin after a
    timeout. A call that waited for its timeout instead fails with PeerTimeout."""
    monkeypatch.setattr(pbx_call, "STALE_CHECK_AFTER", 0.02)
    monkeypatch.setattr(pbx_call, "REPLY_MARGIN", 0.0)


@pytest.fixture
def elsewhere(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """This process's registry keeps quiet: as when the PBX's sessions are another's."""
    monkeypatch.setattr(
        pbx_registry, "targets", SimpleNamespace(forget=lambda *args, **kwargs: None)
    )
    yield


async def test_a_second_call_reads_no_rows(lookups: list[str | None]) -> None:
    standin = await StandIn().connect()
    for _ in range(3):
        await pbx.arequest("pbxapp", NODE_INFO, api="PbxApi")
    assert lookups == ["pbxapp"]
    assert len(standin.received) == 3
    assert targets.kept("pbxapp", "PbxApi") == targets.kept("pbxapp", "PbxApi", None)
    await standin.disconnect()


async def test_zero_cache_seconds_reads_the_rows_every_time(
    lookups: list[str | None], settings: Any
) -> None:
    settings.APPWS = {**settings.APPWS, "PBX_CACHE_SECONDS": 0}
    standin = await StandIn().connect()
    await pbx.arequest("pbxapp", NODE_INFO, api="PbxApi")
    await pbx.arequest("pbxapp", NODE_INFO, api="PbxApi")
    assert lookups == ["pbxapp", "pbxapp"]
    await standin.disconnect()


async def test_each_selector_is_its_own_choice(lookups: list[str | None]) -> None:
    main = await StandIn().connect()
    other = await StandIn(pbx="pbx-b").connect()
    for _ in range(2):
        await pbx.arequest("pbxapp", NODE_INFO, api="PbxApi", pbx="pbx-b")
        await pbx.arequest("pbxapp", NODE_INFO, api="PbxApi", pbx={"pbx": "pbx-main"})
    assert (len(main.received), len(other.received), len(lookups)) == (2, 2, 2)
    # A dict value that cannot be a key matches no PBX, and is not kept.
    with pytest.raises(NoPbxConnected):
        await pbx.arequest("pbxapp", NODE_INFO, api="PbxApi", pbx={"pbx": ["pbx-b"]})  # type: ignore[dict-item]
    await main.disconnect()
    await other.disconnect()


async def test_a_pbx_reconnecting_here_is_asked_on_its_new_session() -> None:
    old = await StandIn(answer=answering("old")).connect()
    assert (await pbx.arequest("pbxapp", NODE_INFO, api="PbxApi"))["session"] == "old"
    new = await StandIn(answer=answering("new")).connect()  # the same PBX
    assert (await pbx.arequest("pbxapp", NODE_INFO, api="PbxApi"))["session"] == "new"
    assert [event["type"] for event in old.received] == [events.PBX_REQUEST, events.PBX_REPLACED]
    await old.disconnect()
    await new.disconnect()


async def test_a_second_pbx_connecting_here_makes_the_call_ambiguous_at_once() -> None:
    main = await StandIn().connect()
    await pbx.arequest("pbxapp", NODE_INFO, api="PbxApi")
    other = await StandIn(pbx="pbx-b").connect()
    with pytest.raises(AmbiguousPbx):
        await pbx.arequest("pbxapp", NODE_INFO, api="PbxApi")
    await main.disconnect()
    await other.disconnect()


@pytest.mark.usefixtures("quick", "elsewhere")
async def test_a_pbx_reconnected_elsewhere_is_asked_again_on_its_new_session() -> None:
    old = await StandIn(answer=answering("old")).connect()
    await pbx.arequest("pbxapp", NODE_INFO, api="PbxApi")
    await old.stop_serving()  # its session ended unseen: the request would wait forever
    new = await StandIn(answer=answering("new")).connect()
    reply = await pbx.arequest("pbxapp", NODE_INFO, api="PbxApi", timeout=5)
    assert reply["session"] == "new"
    assert [event["type"] for event in new.received] == [events.PBX_REQUEST]
    assert targets.kept("pbxapp", "PbxApi") == (
        await targets.lookup("pbxapp", "PbxApi", None, fresh=True)
    )
    await old.disconnect()
    await new.disconnect()


@pytest.mark.usefixtures("quick", "elsewhere")
async def test_a_pbx_disconnected_elsewhere_raises_no_pbx_connected() -> None:
    standin = await StandIn().connect()
    await pbx.arequest("pbxapp", NODE_INFO, api="PbxApi")
    await standin.disconnect()
    assert targets.kept("pbxapp", "PbxApi") is not None  # nobody here was told
    with pytest.raises(NoPbxConnected):
        await pbx.arequest("pbxapp", NODE_INFO, api="PbxApi", timeout=5)
    assert targets.kept("pbxapp", "PbxApi") is None


@pytest.mark.usefixtures("quick", "elsewhere")
async def test_another_pbx_in_the_place_of_the_chosen_one_is_not_asked_unasked() -> None:
    first = await StandIn().connect()
    await pbx.arequest("pbxapp", NODE_INFO, api="PbxApi")
    await first.disconnect()
    other = await StandIn(pbx="pbx-b").connect()
    with pytest.raises(
        SessionEnded, match=re.escape("pbx-b.example.com is connected now: call again")
    ):
        await pbx.arequest("pbxapp", NODE_INFO, api="PbxApi", timeout=5)
    assert other.received == []
    await pbx.arequest("pbxapp", NODE_INFO, api="PbxApi")
    assert len(other.received) == 1
    await other.disconnect()


@pytest.mark.usefixtures("quick", "elsewhere")
async def test_a_slow_pbx_still_in_the_rows_is_waited_for(monkeypatch: pytest.MonkeyPatch) -> None:
    checked = asyncio.Event()
    real = targets.recheck

    async def recheck(*args: Any) -> ConnectedPbx | None:
        try:
            return await real(*args)
        finally:
            checked.set()

    monkeypatch.setattr(targets, "recheck", recheck)
    slow = await StandIn(answer=None).connect()
    call = asyncio.ensure_future(pbx.arequest("pbxapp", NODE_INFO, api="PbxApi", timeout=5))
    asked = await slow.next_event()
    # Another PBX of the App connects elsewhere while the first one works on it: the call
    # would now be ambiguous, yet the request is out, and its answer is the call's.
    other = await StandIn(pbx="pbx-b").connect()
    await checked.wait()
    await get_channel_layer().send(asked["reply_to"], echo_reply(asked))
    assert (await call)["mt"] == "GetNodeInfoResult"
    assert other.received == []
    await slow.disconnect()
    await other.disconnect()


@pytest.mark.usefixtures("quick")
async def test_a_holder_process_gone_times_out_and_its_choice_is_dropped(
    lookups: list[str | None],
) -> None:
    standin = await StandIn().connect()
    await pbx.arequest("pbxapp", NODE_INFO, api="PbxApi")
    await standin.stop_serving()  # its row looks live until the process goes stale
    with pytest.raises(PeerTimeout, match="its process may have stopped"):
        await pbx.arequest("pbxapp", NODE_INFO, api="PbxApi", timeout=0.05)
    assert targets.kept("pbxapp", "PbxApi") is None
    assert lookups == ["pbxapp", "pbxapp"]  # the call, and its look after 20 ms
    await standin.disconnect()


@pytest.mark.parametrize(
    ("error", "raised"), [("ended", SessionEnded), ("api-not-enabled", ApiNotEnabled)]
)
async def test_a_session_that_ended_or_lacks_the_api_is_not_kept(error: str, raised: type) -> None:
    def failing(event: dict[str, Any]) -> dict[str, Any]:
        return events.pbx_reply(event["id"], error=error)

    standin = await StandIn(answer=failing).connect()
    with pytest.raises(raised):
        await pbx.arequest("pbxapp", NODE_INFO, api="PbxApi")
    assert targets.kept("pbxapp", "PbxApi") is None
    await standin.disconnect()


@pytest.mark.usefixtures("elsewhere")
async def test_send_reads_the_rows_every_time() -> None:
    old = await StandIn().connect()
    await pbx.arequest("pbxapp", NODE_INFO, api="PbxApi")
    await old.stop_serving()
    new = await StandIn().connect()
    await pbx.asend("pbxapp", {"mt": "Signaling", "call": 3}, api="PbxApi")
    event = await asyncio.wait_for(new.next_event(), 10)  # bounds a lost message
    assert event["message"] == {"mt": "Signaling", "call": 3}
    await old.disconnect()
    await new.disconnect()


def connected(channel: str) -> ConnectedPbx:
    return ConnectedPbx(
        app="pbxapp",
        identity=PbxIdentity(domain="example.com", pbx="pbx-main", sip="pbxapp-obj"),
        dns="pbx-main.example.com",
        apis=frozenset({"PbxApi"}),
        version="13r3",
        build="1",
        channel_name=channel,
        process="here:1",
        process_ident="here:1:x",
        connected_at=datetime.now(timezone.utc),
    )


async def test_after_a_resend_the_first_sessions_ended_is_no_answer() -> None:
    layer = get_channel_layer()
    first, second = connected("first"), connected("second")
    async with Replies(layer) as replies:
        asked_first = replies.request(first, "PbxApi", NODE_INFO, 1.0)
        asked_second = replies.request(second, "PbxApi", NODE_INFO, 1.0)
        await layer.send(replies.channel, events.pbx_reply(asked_first["id"], error="ended"))
        await layer.send(replies.channel, events.pbx_reply("unknown", reply={"mt": "x"}))
        answer = events.pbx_reply(asked_second["id"], reply={"mt": "GetNodeInfoResult"})
        await layer.send(replies.channel, answer)
        event = await replies.next(10)
    assert event is not None and event["id"] == asked_second["id"]
    assert replies.target_of(event) is second


async def test_a_late_answer_of_the_first_session_is_taken() -> None:
    layer = get_channel_layer()
    async with Replies(layer) as replies:
        asked_first = replies.request(connected("first"), "PbxApi", NODE_INFO, 1.0)
        replies.request(connected("second"), "PbxApi", NODE_INFO, 1.0)
        assert await replies.next(0) is None
        answer = events.pbx_reply(asked_first["id"], reply={"mt": "GetNodeInfoResult"})
        await layer.send(replies.channel, answer)
        event = await replies.next(10)
    assert event is not None and replies.target_of(event).channel_name == "first"


async def test_a_read_timeout_of_redis_is_no_outage_while_waiting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # redis-py (8 and later) gives up a blocking read after 5 s: a PBX that takes longer
    # to answer must not turn the call into LayerUnavailable.
    import redis.exceptions

    layer = get_channel_layer()
    real = layer.receive
    timeouts = [redis.exceptions.TimeoutError("Timeout reading from 127.0.0.1:6379")] * 2

    async def receive(channel: str) -> dict[str, Any]:
        if timeouts:
            raise timeouts.pop()
        return await real(channel)

    monkeypatch.setattr(layer, "receive", receive)
    async with Replies(layer) as replies:
        asked = replies.request(connected("first"), "PbxApi", NODE_INFO, 1.0)
        await layer.send(replies.channel, events.pbx_reply(asked["id"], reply={"mt": "R"}))
        event = await replies.next(10)
    assert event is not None and event["reply"] == {"mt": "R"} and timeouts == []


async def test_a_lost_connection_while_waiting_is_layer_unavailable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import redis.exceptions

    layer = get_channel_layer()

    async def receive(channel: str) -> dict[str, Any]:
        raise redis.exceptions.ConnectionError("Connection refused")

    monkeypatch.setattr(layer, "receive", receive)
    async with Replies(layer) as replies:
        replies.request(connected("first"), "PbxApi", NODE_INFO, 1.0)
        with pytest.raises(LayerUnavailable, match="while waiting for the PBX's reply"):
            await replies.next(10)

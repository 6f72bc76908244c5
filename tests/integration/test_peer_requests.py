"""A PBX session: the service's requests to the PBX, their replies, and what is dropped."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from channels.layers import get_channel_layer

from appws.exceptions import (
    ApiNotEnabled,
    PeerError,
    PeerSubscriptionOverflow,
    PeerTimeout,
    SessionEnded,
)
from appws.layer import events
from appws.server import features
from tests.pbx_peer import PeerService, Results, pbx_login

# Every PBX connection is recorded in the database (appws.pbx's registry feature).
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def script(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Set the PBX-connected script of PeerService; the test's results come back here."""
    results = Results()
    monkeypatch.setattr(PeerService, "seen", [])
    monkeypatch.setattr(PeerService, "disconnected", [])
    monkeypatch.setattr(PeerService, "recorded", asyncio.Event())

    def use(run: Any) -> Results:
        monkeypatch.setattr(PeerService, "script", run)
        return results

    return use


async def test_a_request_gets_its_result(script):
    async def run(conn, pbx):
        results.put((pbx.identity, sorted(pbx.apis), conn.session.pbx is pbx))
        results.put(await conn.request({"mt": "GetNodeInfo"}, api="PbxApi"))

    results = script(run)
    pbx = await pbx_login()
    identity, apis, stored = await results.get()
    assert (identity.domain, identity.pbx, identity.sip) == ("example.com", "pbx-main", "pbx-obj")
    assert apis == ["PbxAdminApi", "PbxApi", "PbxTableUsers", "Services"] and stored
    request = await pbx.receive()
    assert request["api"] == "PbxApi" and request["mt"] == "GetNodeInfo"
    assert request["src"].startswith("appws.")
    await pbx.answer(request, name="node-1")
    reply = await results.get()
    assert reply == {
        "api": "PbxApi",
        "mt": "GetNodeInfoResult",
        "src": request["src"],
        "name": "node-1",
    }
    await pbx.close()


async def test_many_requests_in_flight_each_get_their_own_result(script):
    async def run(conn, pbx):
        asks = [
            conn.request({"mt": "GetObject", "h323": f"u{n}"}, api="PbxAdminApi") for n in range(50)
        ]
        results.put(await asyncio.gather(*asks))

    results = script(run)
    pbx = await pbx_login()
    requests = [await pbx.receive() for _ in range(50)]
    assert len({r["src"] for r in requests}) == 50
    for request in reversed(requests):  # answered in the other order
        await pbx.answer(request, cn=request["h323"].upper())
    replies = await results.get()
    assert [r["cn"] for r in replies] == [f"U{n}" for n in range(50)]
    await pbx.close()


async def test_an_error_in_the_result_raises_peer_error(script):
    async def run(conn, pbx):
        for api, mt in (("PbxAdminApi", "GetObject"), ("PbxTableUsers", "Register")):
            try:
                await conn.request({"mt": mt}, api=api)
            except PeerError as error:
                results.put((error.code, error.text, error.reply["mt"]))

    results = script(run)
    pbx = await pbx_login()
    await pbx.answer(await pbx.receive(), error="not-found", errorText="no such object")
    assert await results.get() == ("not-found", "no such object", "GetObjectResult")
    await pbx.answer(await pbx.receive(), err=7)
    assert await results.get() == ("7", "", "RegisterResult")
    await pbx.close()


async def test_a_handler_awaits_its_own_request_on_an_unasked_update(script):
    script(None)
    pbx = await pbx_login()
    await pbx.send(
        {"api": "PbxTableUsers", "mt": "ReplicateUpdate", "src": "r1", "columns": {"guid": "g1"}}
    )
    request = await pbx.receive()
    assert (request["api"], request["mt"], request["guid"]) == ("PbxAdminApi", "GetObject", "g1")
    # A live message reusing a src is no result: it reaches its handler, behind the first.
    await pbx.send(
        {
            "api": "PbxTableUsers",
            "mt": "ReplicateAdd",
            "src": request["src"],
            "columns": {"guid": "g2"},
        }
    )
    await pbx.answer(request, cn="Alice")
    await pbx.send({"api": "PbxAdminApi", "mt": "GetObjectResult", "src": "nobody-asked"})
    assert await pbx.comm.receive_nothing()
    assert PeerService.seen == [("object", "Alice"), ("add", {"guid": "g2"})]
    await pbx.close()


async def test_a_monitoring_iterator_yields_the_result_then_updates(script):
    async def run(conn, pbx):
        async with conn.subscribe_peer({"mt": "SubscribeServices"}, api="Services") as services:
            async for message in services:
                results.put(message)
                if message["mt"] == "ServicesInfo" and message["services"] == ["b"]:
                    break
        results.put("closed")

    results = script(run)
    pbx = await pbx_login()
    request = await pbx.receive()
    assert request["mt"] == "SubscribeServices"
    src = request["src"]
    await pbx.answer(request)
    await pbx.send({"api": "Services", "mt": "ServicesInfo", "src": src, "services": ["a"]})
    await pbx.send({"api": "Services", "mt": "ServicesInfo", "src": src, "services": ["b"]})
    assert (await results.get())["mt"] == "SubscribeServicesResult"
    assert (await results.get())["services"] == ["a"]
    assert (await results.get())["services"] == ["b"]
    assert await results.get() == "closed"
    # Closed: a later update with its src reaches nobody, and is not answered.
    await pbx.send({"api": "Services", "mt": "ServicesInfo", "src": src, "services": ["c"]})
    assert await pbx.comm.receive_nothing()
    await pbx.close()


async def test_a_full_peer_subscription_ends_with_an_error_after_what_it_held(script, settings):
    settings.APPWS = {**settings.APPWS, "PEER_SUBSCRIPTION_QUEUE": 2}
    go = asyncio.Event()

    async def run(conn, pbx):
        subscription = conn.subscribe_peer({"mt": "SubscribePresence", "sip": "a"}, api="PbxApi")
        results.put((await subscription.__anext__())["mt"])
        await go.wait()
        try:
            async for message in subscription:
                results.put(message["n"])
        except PeerSubscriptionOverflow:
            results.put("overflow")

    results = script(run)
    pbx = await pbx_login()
    request = await pbx.receive()
    await pbx.answer(request)
    assert await results.get() == "SubscribePresenceResult"
    for n in range(3):
        await pbx.send({"api": "PbxApi", "mt": "PresenceUpdate", "src": request["src"], "n": n})
    # In order behind them: once its handler ran, the reader had pushed all three.
    await pbx.send({"api": "PbxTableUsers", "mt": "ReplicateAdd", "columns": {}})
    await PeerService.wait_seen(1)
    go.set()
    assert [await results.get() for _ in range(3)] == [0, 1, "overflow"]
    await pbx.close()


async def test_an_api_the_pbx_did_not_enable_fails_at_once(script):
    async def run(conn, pbx):
        for api in ("RCC", "PbxApi"):
            try:
                await conn.request({"mt": "Initialize"}, api=api)
            except ApiNotEnabled as error:
                results.put(str(error))

    results = script(run)
    pbx = await pbx_login(apis=["PbxAdminApi"])
    assert "'RCC'" in await results.get() and "enabled: PbxAdminApi" in await results.get()
    assert await pbx.comm.receive_nothing()  # nothing was sent
    await pbx.close()


async def test_a_request_times_out_and_its_late_result_is_dropped(script, caplog):
    async def run(conn, pbx):
        try:
            await conn.request({"mt": "GetNodeInfo"}, api="PbxApi", timeout=0.01)
        except PeerTimeout as error:
            results.put(str(error))

    results = script(run)
    pbx = await pbx_login()
    request = await pbx.receive()
    assert "no GetNodeInfoResult" in await results.get()
    caplog.set_level(logging.INFO, "appws")
    await pbx.answer(request, name="late")
    assert await pbx.comm.receive_nothing()
    assert any(
        "'result'" in r.getMessage() and request["src"] in r.getMessage() for r in caplog.records
    )
    await pbx.close()


async def test_the_session_ending_fails_every_pending_request(script):
    script(None)
    pbx = await pbx_login()
    await pbx.send({"api": "PbxTableUsers", "mt": "ReplicateUpdate", "columns": {"guid": "g"}})
    await pbx.receive()  # the handler's GetObject, never answered
    await pbx.close()
    await PeerService.wait_seen(1)
    assert PeerService.seen == [("failed", SessionEnded.__name__)]
    assert [p.identity.pbx for p in PeerService.disconnected] == ["pbx-main"]


async def test_no_error_replies_to_results_indications_or_unreadable_frames(script, caplog):
    script(None)
    caplog.set_level(logging.INFO, "appws")
    pbx = await pbx_login()
    for _ in range(2):  # the second of each kind is counted, not logged
        await pbx.send(
            {"api": "PbxApi", "mt": "GetNodeInfoResult", "src": "x1", "name": "secret-payload"}
        )
        await pbx.send({"mt": "SomeResult", "src": "x2"})
        await pbx.send({"api": "RCC", "mt": "CallInfo", "src": "x3", "call": "secret-payload"})
        await pbx.send({"mt": "Nonsense"})
        await pbx.comm.send_to(text_data='{"mt": "Broken", secret-payload')
        await pbx.comm.send_to(bytes_data=b"\x00secret-payload")
    assert await pbx.comm.receive_nothing()
    lines = [r.getMessage() for r in caplog.records if "dropped" in r.getMessage()]
    assert not any("secret-payload" in line for line in lines)
    assert sum("'result'" in line for line in lines) == 1
    assert sum("'unhandled'" in line for line in lines) == 1
    assert sum("'unreadable'" in line for line in lines) == 1
    assert any("api='RCC' mt='CallInfo' src='x3'" in line for line in lines)
    await pbx.close()


async def test_an_apps_own_pbx_rate_limit_applies_to_its_pbx(script, settings):
    apps = {**settings.APPWS["APPS"], "pbxapp": {"password": "pwd", "pbx_rate_limit": 0.01}}
    settings.APPWS = {**settings.APPWS, "APPS": apps, "RATE_BURST": 5}
    script(None)
    pbx = await pbx_login()
    for n in range(8):  # more than a burst, not a flood (more than a burst refused)
        await pbx.send({"api": "PbxTableUsers", "mt": "ReplicateAdd", "columns": {"n": n}})
    await PeerService.wait_seen(4)  # a burst of 5, PbxInfo took one
    assert await pbx.comm.receive_nothing()  # over the rate: dropped, never answered
    assert len(PeerService.seen) == 4
    await pbx.close()


async def test_a_result_type_with_a_handler_reaches_it(script):
    # A service that sends with send_peer may handle the results by type instead.
    script(None)
    pbx = await pbx_login()
    await pbx.send(
        {
            "api": "PbxTableUsers",
            "mt": "ReplicateNextResult",
            "src": "r1",
            "columns": {"guid": "g1"},
        }
    )
    await PeerService.wait_seen(1)
    assert PeerService.seen == [("next", {"guid": "g1"})]
    assert await pbx.comm.receive_nothing()
    await pbx.close()


async def test_a_pbx_session_is_not_rate_limited_while_a_browser_is(script, settings, connect):
    settings.APPWS = {**settings.APPWS, "RATE_LIMIT": 1, "RATE_BURST": 5}
    script(None)
    pbx = await pbx_login()
    for n in range(30):
        await pbx.send({"api": "PbxTableUsers", "mt": "ReplicateAdd", "columns": {"n": n}})
    assert await pbx.comm.receive_nothing()
    assert [c["n"] for _, c in PeerService.seen] == list(range(30))
    browser = await connect("/apps/notes", login=("notes", "notes-secret"), sip="alice")
    replies = [await browser.request({"mt": "ListNotes", "src": str(n)}) for n in range(5)]
    assert any(r.get("error") == "rate-limited" for r in replies)
    await pbx.close()


async def test_pbx_rate_limit_setting_limits_pbx_sessions(script, settings, caplog):
    settings.APPWS = {**settings.APPWS, "PBX_RATE_LIMIT": 1, "RATE_BURST": 5}
    script(None)
    caplog.set_level(logging.INFO, "appws")
    pbx = await pbx_login()
    for n in range(5):
        await pbx.send({"api": "PbxTableUsers", "mt": "ReplicateAdd", "columns": {"n": n}})
    assert await pbx.comm.receive_nothing()  # dropped, never answered
    assert len(PeerService.seen) < 5
    assert any("'rate-limited'" in r.getMessage() for r in caplog.records)
    await pbx.close()


@pytest.mark.parametrize(
    "fields",
    [
        {"sip": "alice", "info": {"appobj": "pbx-obj"}},  # issued for a user
        {"sip": "pbx-obj"},  # the App's password, no App object
    ],
)
async def test_pbx_info_is_refused_on_any_other_login(connect, fields):
    comm = await connect("/apps/pbxapp", login=("pbxapp", "pwd"), **fields)
    reply = await comm.request(
        {"mt": "PbxInfo", "pbx": "evil", "apis": ["PbxAdminApi"], "src": "p"}
    )
    assert reply["error"] == "forbidden" and "App object" in reply["errorText"]
    assert (await comm.request({"mt": "Session"}))["pbxInfo"] is None


async def test_a_pbx_login_needs_no_django_user(script, settings):
    # No database here: mapping the App object to a user would fail loudly.
    settings.APPWS = {**settings.APPWS, "MAP_USERS": True, "REQUIRE_USER_ACCESS": True}

    async def run(conn, pbx):
        results.put(conn.session.user)

    results = script(run)
    pbx = await pbx_login()
    assert await results.get() is None
    await pbx.close()


async def test_handler_queue_overflow_closes_the_session(script, settings, caplog):
    settings.APPWS = {**settings.APPWS, "MAX_QUEUED_MESSAGES": 3}
    script(None)
    pbx = await pbx_login()
    await pbx.send({"api": "PbxTableUsers", "mt": "ReplicateUpdate", "columns": {"guid": "g"}})
    await pbx.receive()  # the handler waits for this request: nothing else is handled
    for n in range(4):
        await pbx.send({"api": "PbxTableUsers", "mt": "ReplicateAdd", "columns": {"n": n}})
    closed = await pbx.comm.receive_output(2)
    assert closed == {"type": "websocket.close", "code": 4503, "reason": closed["reason"]}
    assert any("MAX_QUEUED_MESSAGES" in r.getMessage() for r in caplog.records)


async def test_features_hear_of_pbx_connections(script):
    heard: list[tuple[str, str]] = []

    class Feature:
        async def pbx_connected(self, conn, pbx):
            heard.append(("connected", conn.session.pbx.identity.pbx))

        async def pbx_disconnected(self, conn, pbx):
            heard.append(("disconnected", pbx.identity.pbx))

    async def run(conn, pbx):
        results.put(list(heard))  # the features come first

    feature = Feature()
    features.register(feature)
    features.register(feature)  # once is enough
    try:
        results = script(run)
        pbx = await pbx_login()
        assert await results.get() == [("connected", "pbx-main")]
        await pbx.send({**PBX_INFO_AGAIN, "apis": []})  # a new PbxInfo replaces the PBX
        assert await results.get() == [
            ("connected", "pbx-main"),
            ("disconnected", "pbx-main"),
            ("connected", "pbx-2"),
        ]
        await pbx.close()
    finally:
        features.unregister(feature)


PBX_INFO_AGAIN = {"mt": "PbxInfo", "pbx": "pbx-2"}


async def test_pbx_request_and_reply_through_the_layer(script):
    async def run(conn, pbx):
        results.put(conn.channel_name)

    results = script(run)
    pbx = await pbx_login(apis=["PbxApi"])
    channel = await results.get()
    layer = get_channel_layer()
    reply_to = await layer.new_channel()
    await layer.send(channel, events.pbx_request("1", "PbxApi", {"mt": "GetNodeInfo"}, reply_to, 5))
    request = await pbx.receive()
    await pbx.answer(request, name="node")
    answer = await asyncio.wait_for(layer.receive(reply_to), 2)
    assert answer["type"] == events.PBX_REPLY and answer["id"] == "1" and answer["error"] is None
    assert answer["reply"]["name"] == "node"

    await layer.send(channel, events.pbx_request("2", "PbxApi", {"mt": "GetNodeInfo"}, reply_to, 5))
    await pbx.answer(await pbx.receive(), error="busy-node", errorText="try later")
    answer = await asyncio.wait_for(layer.receive(reply_to), 2)
    assert (answer["error"], answer["code"], answer["text"]) == (
        "peer-error",
        "busy-node",
        "try later",
    )

    await layer.send(channel, events.pbx_request("3", "RCC", {"mt": "Initialize"}, reply_to, 5))
    answer = await asyncio.wait_for(layer.receive(reply_to), 2)
    assert (answer["id"], answer["error"]) == ("3", "api-not-enabled")

    await layer.send(channel, events.pbx_request("4", "PbxApi", {"mt": "SetPresence"}, None, 5))
    sent = await pbx.receive()
    assert sent["mt"] == "SetPresence" and "src" not in sent

    await layer.send(channel, events.pbx_request("5", "PbxApi", {"mt": "GetNodeInfo"}, reply_to, 5))
    await pbx.receive()
    await pbx.close()  # the session ends with the request pending
    answer = await asyncio.wait_for(layer.receive(reply_to), 2)
    assert (answer["id"], answer["error"]) == ("5", "ended")


async def test_pbx_replaced_closes_the_older_session(script):
    async def run(conn, pbx):
        results.put(conn.channel_name)

    results = script(run)
    pbx = await pbx_login()
    channel = await results.get()
    await get_channel_layer().send(channel, events.pbx_replaced())
    closed = await pbx.comm.receive_output(2)
    assert (closed["type"], closed["code"]) == ("websocket.close", 4409)


async def test_a_second_connection_of_the_same_pbx_closes_the_first(script):
    # Through the registry (appws.pbx) and the layer: a half-open socket never lingers.
    from appws.models import PbxConnection

    async def run(conn, pbx):
        results.put(conn.channel_name)  # the features (the registry's row) ran before

    results = script(run)
    first = await pbx_login()
    await results.get()
    second = await pbx_login()
    await results.get()
    closed = await first.comm.receive_output(2)
    assert (closed["type"], closed["code"]) == ("websocket.close", 4409)
    rows = [row async for row in PbxConnection.objects.all()]
    assert len(rows) == 1 and rows[0].sip == "pbx-obj"
    await second.close()
    await first.close()

"""What a PBX feature is given: listeners, session tasks, feature events, badge AppInfo."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from channels.layers import get_channel_layer

from appws.exceptions import SessionEnded
from appws.layer import events
from appws.server import features
from appws.server.features import FeatureBase
from tests.pbx_peer import PeerService, Results, pbx_login

pytestmark = pytest.mark.django_db(transaction=True)


class Recording(FeatureBase):
    """A feature that hands what it is given to the test."""

    name = "recording"

    def __init__(self) -> None:
        self.results = Results()
        self.session: Any = None

    async def pbx_connected(self, conn: Any, pbx: Any) -> None:
        self.session = conn
        self.results.put("connected")

    async def feature_event(self, conn: Any, event: Any) -> None:
        self.results.put(("event", conn.channel_name, dict(event)))


@pytest.fixture
def feature(monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setattr(PeerService, "script", None)
    recording = Recording()
    features.register(recording)
    yield recording
    features.unregister(recording)


async def test_a_listener_gets_what_the_peer_sends_unasked(feature):
    pbx = await pbx_login()
    assert await feature.results.get() == "connected"
    heard: list[dict[str, Any]] = []
    listener = feature.session.listen_peer("PbxSignal", {"Signaling"}, heard.append)
    # No src at all (an incoming call), then one the service never chose.
    setup = {"api": "PbxSignal", "mt": "Signaling", "call": -7, "sig": {"type": "setup"}}
    await pbx.send(setup)
    await pbx.send({**setup, "src": "theirs", "call": -8})
    await pbx.send({"api": "PbxApi", "mt": "Signaling", "call": -9})  # another API: not it
    await pbx.send({"api": "PbxSignal", "mt": "Other", "call": -10})  # another type: not it
    assert await pbx.comm.receive_nothing()
    assert [message["call"] for message in heard] == [-7, -8]
    listener.close()
    await pbx.send({**setup, "call": -11})
    assert await pbx.comm.receive_nothing()
    assert [message["call"] for message in heard] == [-7, -8]
    await pbx.close()


async def test_a_live_update_reusing_a_request_src_reaches_the_listener(feature):
    pbx = await pbx_login()
    assert await feature.results.get() == "connected"
    heard: list[dict[str, Any]] = []
    feature.session.listen_peer("PbxTableUsers", ("ReplicateAdd",), heard.append)
    results = Results()

    async def ask() -> None:
        results.put(await feature.session.request({"mt": "ReplicateStart"}, api="PbxTableUsers"))

    task = asyncio.ensure_future(ask())
    request = await pbx.receive()
    await pbx.send({"api": "PbxTableUsers", "mt": "ReplicateAdd", "src": request["src"]})
    await pbx.answer(request, columns={})
    assert (await results.get())["mt"] == "ReplicateStartResult"
    await task
    assert [(m["mt"], m["src"]) for m in heard] == [("ReplicateAdd", request["src"])]
    await pbx.close()


async def test_one_listener_per_api_and_type(feature):
    pbx = await pbx_login()
    assert await feature.results.get() == "connected"
    feature.session.listen_peer("PbxSignal", {"Signaling"}, lambda message: None)
    with pytest.raises(ValueError, match="already listened to"):
        feature.session.listen_peer("PbxSignal", {"Signaling", "Other"}, lambda message: None)
    await pbx.close()
    with pytest.raises(SessionEnded):
        feature.session.listen_peer("PbxApi", {"X"}, lambda message: None)


async def test_a_session_task_ends_with_the_session(feature):
    pbx = await pbx_login()
    assert await feature.results.get() == "connected"
    started = asyncio.Event()
    cancelled = asyncio.Event()

    async def forever() -> None:
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise

    assert feature.session.start_task(forever(), "forever") is not None
    await asyncio.wait_for(started.wait(), 2)
    await pbx.close()
    await asyncio.wait_for(cancelled.wait(), 2)

    async def late() -> None:
        raise AssertionError("a task of an ended session never runs")

    assert feature.session.start_task(late(), "late") is None


async def test_a_feature_event_reaches_the_feature_on_that_session(feature, caplog):
    pbx = await pbx_login()
    assert await feature.results.get() == "connected"
    layer = get_channel_layer()
    channel = feature.session.channel_name
    await layer.send(channel, events.feature_event("recording", counts={"alice": 3}))
    kind, where, event = await feature.results.get()
    assert (kind, where) == ("event", channel)
    assert event == {"type": "appws.feature", "feature": "recording", "counts": {"alice": 3}}
    # One for no registered feature is logged, and the session goes on.
    await layer.send(channel, events.feature_event("nobody"))
    await layer.send(channel, events.feature_event("recording", n=2))
    assert (await feature.results.get())[2]["n"] == 2
    assert any("'nobody'" in record.getMessage() for record in caplog.records)
    await pbx.close()


class BadgeService(PeerService):
    apps = ("pbxapp", "echo")
    badge_apps = ("pbxapp",)


async def test_app_info_says_presence_for_badge_apps_only():
    from channels.routing import URLRouter

    from appws.server.routing import service_urls
    from appws.testing import AppwsCommunicator

    application = URLRouter(service_urls(BadgeService))
    for app, password, presence in (("pbxapp", "pwd", True), ("echo", "echo", None)):
        comm = AppwsCommunicator(application, f"/apps/{app}")
        assert (await comm.login(app, password))["ok"] is True
        await comm.send_json_to({"mt": "AppInfo", "app": app, "src": "i"})
        reply = await comm.receive_json_from(2)
        assert reply["mt"] == "AppInfoResult"
        assert reply["info"].get("presence") is presence
        assert reply["info"]["hidden"] is False  # the rest of the info kept
        await comm.disconnect()


async def test_feature_tasks_one_per_session_stopped_and_forgotten(feature):
    from appws.server.features import FeatureTasks

    pbx = await pbx_login()
    assert await feature.results.get() == "connected"
    tasks = FeatureTasks()
    started, stopped = asyncio.Event(), asyncio.Event()

    async def forever() -> None:
        started.set()
        try:
            await asyncio.Event().wait()
        finally:
            stopped.set()

    assert tasks.start(feature.session, forever(), "forever") is True
    assert len(tasks.running()) == 1
    await asyncio.wait_for(started.wait(), 2)
    await tasks.stop(feature.session)  # cancelled, and awaited
    assert stopped.is_set() and tasks.running() == []

    async def brief() -> None:
        return None

    assert tasks.start(feature.session, brief(), "brief") is True
    [task] = tasks.running()
    forgotten = asyncio.Event()
    # Done callbacks run in the order added: FeatureTasks's own has run before this one.
    task.add_done_callback(lambda done: forgotten.set())
    await asyncio.wait_for(forgotten.wait(), 2)
    assert tasks.running() == []  # ended by itself: forgotten
    await pbx.close()
    assert tasks.start(feature.session, brief(), "late") is False

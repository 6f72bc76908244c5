"""Badge counts: a PBX session's badge calls (PbxSignal) and ``appws.badges`` setting them."""

from __future__ import annotations

import logging
from typing import Any, ClassVar

import pytest
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from channels.routing import URLRouter

from appws import badges
from appws.pbx import PbxBusy
from appws.pbx.badges.feature import badges as feature
from appws.server.routing import service_urls
from appws.testing import AppwsCommunicator
from tests.pbx_peer import PBX_INFO, Pbx, PeerService, Results
from tests.pbx_standin import StandIn

pytestmark = pytest.mark.django_db(transaction=True)

APP = "pbxapp"
OWN_SIP = "pbx-obj"  # the App object's sip: what a badge subscription calls
ALL = ("PbxApi", "PbxSignal")


class BadgeService(PeerService):
    """Shows a badge on ``pbxapp`` (not on ``plain``); the first counts come from ``FIRST``."""

    apps = (APP, "plain")
    badge_apps = (APP,)
    FIRST: ClassVar[dict[str, Any]] = {}

    async def get_badge(self, app: str, user: str) -> int:
        first = type(self).FIRST.get(user, 0)
        if isinstance(first, Exception):
            raise first
        return first  # type: ignore[no-any-return]


application = URLRouter(service_urls(BadgeService))


@pytest.fixture(autouse=True)
def first_counts(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    counts: dict[str, Any] = {}
    monkeypatch.setattr(BadgeService, "FIRST", counts)
    monkeypatch.setattr(PeerService, "script", None)
    return counts


async def connect(
    apis: tuple[str, ...] = ALL, *, pbx: str = "pbx-main", register: bool = True
) -> Pbx:
    """A PBX session of ``pbxapp`` (App object ``pbx-obj``); answers its Register."""
    comm = AppwsCommunicator(application, f"/apps/{APP}")
    result = await comm.login(
        APP, "pwd", domain="example.com", sip=OWN_SIP, info={"appobj": OWN_SIP}
    )
    assert result["ok"] is True, result
    await comm.send_json_to({**PBX_INFO, "pbx": pbx, "apis": list(apis)})
    session = Pbx(comm)
    if register:
        request = await session.receive()
        assert (request["api"], request["mt"], request["flags"]) == (
            "PbxSignal",
            "Register",
            "NO_MEDIA_CALL",
        )
        await session.answer(request)
    return session


def setup(call: int, user: str | None = "alice", *, cd: str = OWN_SIP, fty: Any = None) -> dict:
    sig: dict[str, Any] = {"type": "setup", "cd": {"sip": cd}}
    if user is not None:
        sig["cg"] = {"sip": user}
    sig["fty"] = [{"type": "presence_subscribe"}] if fty is None else fty
    return {"api": "PbxSignal", "mt": "Signaling", "call": call, "sig": sig}


def rel(call: int) -> dict:
    return {"api": "PbxSignal", "mt": "Signaling", "call": call, "sig": {"type": "rel"}}


def badge(call: int, count: int) -> dict:
    return {
        "api": "PbxSignal",
        "mt": "Signaling",
        "call": call,
        "src": "badge",
        "sig": {
            "type": "facility",
            "fty": [
                {
                    "type": "presence_notify",
                    "status": "open",
                    "note": f"#badge:{count}",
                    "contact": "app:",
                }
            ],
        },
    }


def answer(call: int, kind: str) -> dict:
    return {"api": "PbxSignal", "mt": "Signaling", "call": call, "sig": {"type": kind}}


async def subscribe(pbx: Pbx, call: int, user: str = "alice") -> dict:
    """Place a badge call; return the first count's facility (after the conn)."""
    await pbx.send(setup(call, user))
    assert await pbx.receive() == answer(call, "conn")
    return await pbx.receive()


async def test_a_subscription_gets_conn_then_the_first_count(first_counts):
    first_counts["alice"] = 4
    pbx = await connect()
    assert await subscribe(pbx, -7) == badge(-7, 4)
    assert await pbx.comm.receive_nothing()
    await pbx.close()


async def test_set_sends_new_counts_once_each_and_nothing_after_rel():
    pbx = await connect()
    assert await subscribe(pbx, -1) == badge(-1, 0)
    assert await badges.aset(APP, "alice", 3) == 1
    assert await pbx.receive() == badge(-1, 3)
    await badges.aset(APP, "alice", 3)  # the same count again: not sent
    await badges.aset_many(APP, {"alice": 5, "bob": 9})  # bob has no call here
    assert await pbx.receive() == badge(-1, 5)
    await pbx.send(rel(-1))
    await badges.aset(APP, "alice", 6)
    assert await pbx.comm.receive_nothing()
    await pbx.close()


async def test_the_first_count_is_not_sent_again_by_a_set_of_the_same(first_counts):
    first_counts["alice"] = 2
    pbx = await connect()
    assert await subscribe(pbx, -1) == badge(-1, 2)
    await badges.aset(APP, "alice", 2)
    assert await pbx.comm.receive_nothing()
    await pbx.close()


async def test_every_call_of_a_user_is_updated_and_only_theirs():
    pbx = await connect()
    await subscribe(pbx, -1, "alice")
    await subscribe(pbx, -2, "alice")  # a second device of hers
    await subscribe(pbx, -3, "bob")
    await badges.aset(APP, "alice", 1)
    assert [await pbx.receive(), await pbx.receive()] == [badge(-1, 1), badge(-2, 1)]
    assert await pbx.comm.receive_nothing()
    await pbx.close()


@pytest.mark.parametrize(
    "message",
    [
        setup(-4, fty=[]),  # a plain call
        setup(-4, fty=[{"type": "presence_notify"}]),
        setup(-4, fty="presence_subscribe"),
        setup(-4, cd="other-app"),  # a subscription to another object
        setup(-4, cd="pbxapp"),  # the App's name is not the App object's sip
        setup(-4, user=None),  # nobody to count for
    ],
    ids=["no-facility", "other-facility", "facility-not-a-list", "wrong-cd", "app-name", "no-cg"],
)
async def test_other_calls_are_released(message):
    pbx = await connect()
    await pbx.send(message)
    assert await pbx.receive() == answer(-4, "rel")
    await badges.aset(APP, "alice", 1)
    assert await pbx.comm.receive_nothing()
    await pbx.close()


async def test_calls_beyond_max_badge_calls_are_released_and_logged(settings, caplog):
    settings.APPWS = {**settings.APPWS, "MAX_BADGE_CALLS": 2}
    pbx = await connect()
    await subscribe(pbx, -1, "alice")
    await subscribe(pbx, -2, "bob")
    with caplog.at_level(logging.WARNING, logger="appws"):
        await pbx.send(setup(-3, "carol"))
        assert await pbx.receive() == answer(-3, "rel")
    assert any("MAX_BADGE_CALLS" in r.getMessage() for r in caplog.records)
    await pbx.send(rel(-1))  # a slot is free again
    assert await subscribe(pbx, -4, "carol") == badge(-4, 0)
    await pbx.close()


async def test_badge_calls_are_no_subscriptions(settings):
    # MAX_SUBSCRIPTIONS bounds what a session subscribes to; badge calls are the PBX's.
    settings.APPWS = {**settings.APPWS, "MAX_SUBSCRIPTIONS": 0}
    pbx = await connect()
    for call in (-1, -2, -3):
        assert await subscribe(pbx, call, f"u{call}") == badge(call, 0)
    await pbx.close()


async def test_a_call_on_another_pbx_of_the_app_is_updated_too():
    first = await connect(pbx="pbx-a")
    second = await connect(pbx="pbx-b")
    await subscribe(first, -1, "alice")
    await subscribe(second, -1, "alice")
    assert await badges.aset(APP, "alice", 8) == 2
    assert await first.receive() == badge(-1, 8)
    assert await second.receive() == badge(-1, 8)
    await first.close()
    await second.close()


async def test_a_refused_register_is_logged_and_the_session_stays(caplog):
    pbx = await connect(register=False)
    request = await pbx.receive()
    with caplog.at_level(logging.WARNING, logger="appws"):
        await pbx.answer(request, err="not-allowed")
        await pbx.send(setup(-1))  # whatever comes is still answered
        assert await pbx.receive() == answer(-1, "conn")
    assert any("refused Register" in r.getMessage() for r in caplog.records)
    assert (await pbx.receive())["sig"]["type"] == "facility"
    await pbx.close()


async def test_without_pbxsignal_there_is_no_register_and_no_badge_call(monkeypatch, caplog):
    ready = Results()

    async def run(conn, pbx):
        ready.put(pbx)  # the service's hook: every feature has run before it

    monkeypatch.setattr(PeerService, "script", run)
    with caplog.at_level(logging.DEBUG, logger="appws"):
        pbx = await connect(apis=("PbxApi",), register=False)
        await ready.get()
        await pbx.send(setup(-1))
        assert await pbx.comm.receive_nothing()
    # The setup reached the handlers (dropped there, as any unhandled PBX message).
    messages = [r.getMessage() for r in caplog.records]
    assert any("'unhandled' (api='PbxSignal' mt='Signaling'" in m for m in messages), messages
    assert not any("badges" in m for m in messages), messages
    assert await badges.aset(APP, "alice", 1) == 0  # the PBX cannot show badges
    await pbx.close()


async def test_a_session_of_an_app_without_badges_does_not_register():
    comm = AppwsCommunicator(URLRouter(service_urls(PeerService)), f"/apps/{APP}")
    result = await comm.login(
        APP, "pwd", domain="example.com", sip=OWN_SIP, info={"appobj": OWN_SIP}
    )
    assert result["ok"] is True
    await comm.send_json_to({**PBX_INFO, "apis": list(ALL)})
    assert await comm.receive_nothing()
    await comm.disconnect()


async def test_disconnect_and_a_new_pbxinfo_forget_the_calls():
    pbx = await connect()
    await subscribe(pbx, -1)
    from appws.pbx import connected_pbxs

    (row,) = await sync_to_async(connected_pbxs)(APP)
    assert len(feature.calls(row.channel_name) or ()) == 1
    await pbx.send({**PBX_INFO, "apis": list(ALL)})  # the PBX starts afresh
    request = await pbx.receive()
    assert request["mt"] == "Register"
    await pbx.answer(request)
    assert len(feature.calls(row.channel_name) or ()) == 0
    await badges.aset(APP, "alice", 1)
    assert await pbx.comm.receive_nothing()  # call -1 is gone with the old PbxInfo
    await pbx.close()
    assert feature.calls(row.channel_name) is None


async def test_a_failing_get_badge_is_logged_and_later_counts_still_go(first_counts, caplog):
    first_counts["alice"] = RuntimeError("the database is away")
    first_counts["bob"] = True  # not a count
    pbx = await connect()
    with caplog.at_level(logging.ERROR, logger="appws"):
        await pbx.send(setup(-1, "alice"))
        assert await pbx.receive() == answer(-1, "conn")
        await pbx.send(setup(-2, "bob"))
        assert await pbx.receive() == answer(-2, "conn")
        await badges.aset_many(APP, {"alice": 1, "bob": 2})
        assert [await pbx.receive(), await pbx.receive()] == [badge(-1, 1), badge(-2, 2)]
    messages = [r.getMessage() for r in caplog.records]
    assert any("get_badge('pbxapp', 'alice') failed" in m for m in messages)
    assert any("returned True, not an int" in m for m in messages)
    await pbx.close()


async def test_a_django_user_is_mapped_to_their_pbx_users(monkeypatch, django_user_model):
    from appws.pbx.users import mapping

    user = await django_user_model.objects.acreate(username="alice-django")
    monkeypatch.setattr(mapping, "sip_of_user", lambda u: ["alice", "alice2"] if u == user else [])
    pbx = await connect()
    await subscribe(pbx, -1, "alice")
    await subscribe(pbx, -2, "alice2")
    await badges.aset(APP, user, 6)
    assert [await pbx.receive(), await pbx.receive()] == [badge(-1, 6), badge(-2, 6)]
    with pytest.raises(ValueError, match="two badge counts"):
        await badges.aset_many(APP, {user: 1, "alice": 2})
    await pbx.close()


@pytest.mark.parametrize(
    ("args", "error", "text"),
    [
        ((APP, "alice", True), TypeError, "int >= 0"),
        ((APP, "alice", 1.0), TypeError, "int >= 0"),
        ((APP, "alice", "3"), TypeError, "int >= 0"),
        ((APP, "alice", -1), ValueError, "int >= 0"),
        ((APP, "", 1), ValueError, "empty string"),
        ((APP, 7, 1), TypeError, "sip \\(str\\) or a Django user, not int"),
        ((APP, None, 1), TypeError, "not NoneType"),
        (("", "alice", 1), TypeError, "App's name"),
        ((None, "alice", 1), TypeError, "App's name"),
    ],
)
async def test_bad_arguments_are_refused(args, error, text):
    with pytest.raises(error, match=text):
        await badges.aset(*args)


async def test_bad_counts_are_refused():
    with pytest.raises(TypeError, match="dict of user -> count"):
        await badges.aset_many(APP, [("alice", 1)])  # type: ignore[arg-type]
    from django.contrib.auth.models import AnonymousUser

    with pytest.raises(TypeError, match="AnonymousUser"):
        await badges.aset(APP, AnonymousUser(), 1)


async def test_with_no_pbx_connected_nothing_is_sent():
    assert await badges.aset(APP, "alice", 1) == 0
    assert await sync_to_async(badges.set)(APP, "alice", 1) == 0
    assert await sync_to_async(badges.set_many)(APP, {"alice": 1, "bob": 2}) == 0


async def test_set_many_is_one_event_per_pbx_connection():
    standin = await StandIn(app=APP).connect()
    other = await StandIn(app=APP, pbx="pbx-b").connect()
    assert await badges.aset_many(APP, {"alice": 1, "bob": 2, "carol": 0}) == 2
    for each in (standin, other):
        event = await each.next_event()
        assert event["feature"] == "badges" and event["app"] == APP
        assert event["counts"] == {"alice": 1, "bob": 2, "carol": 0}
    assert len(standin.received) == len(other.received) == 1
    await standin.disconnect()
    await other.disconnect()


async def test_a_full_channel_raises_pbx_busy_naming_the_pbx(settings):
    settings.CHANNEL_LAYERS = {
        "default": {"BACKEND": "appws.layers.InMemoryChannelLayer", "CONFIG": {"capacity": 1}}
    }
    standin = await StandIn(app=APP, pbx="pbx-full").connect(serve=False)  # reads nothing
    await badges.aset(APP, "alice", 1)  # fills its channel
    with pytest.raises(PbxBusy, match=r"pbxapp-obj@pbx-full\.example\.com.*set them again"):
        await badges.aset(APP, "alice", 2)
    event = await get_channel_layer().receive(standin.channel)
    assert event["counts"] == {"alice": 1}
    await standin.disconnect()


async def test_app_info_says_presence_for_badge_apps_only():
    comm = AppwsCommunicator(application, f"/apps/{APP}")
    assert (await comm.login(APP, "pwd", sip="alice"))["ok"] is True
    shown = await comm.request({"mt": "AppInfo", "app": APP, "src": "a"})
    assert shown["info"]["presence"] is True
    plain = await comm.request({"mt": "AppInfo", "app": "plain", "src": "b"})
    assert "presence" not in plain.get("info", {})
    await comm.disconnect()

"""The App Services a PBX lists: followed on every PBX session, stored, and read back."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from channels.routing import URLRouter

from appws import AppWebsocketConsumer, mt, pbx
from appws.models import PbxConnection
from appws.pbx import PbxService, UnknownService
from appws.pbx.appservices import entries
from appws.pbx.appservices.feature import services_feature
from appws.protocol import PbxIdentity
from appws.server import features
from appws.server.routing import service_urls
from appws.testing import AppwsCommunicator
from tests.pbx_peer import PBX_INFO, Pbx

pytestmark = pytest.mark.django_db(transaction=True)

OTHER = {
    "name": "other@example.com",
    "title": "Other",
    "url": "wss://svc.example.com/apps/other",
    "info": {"com.example.api1": {}},
}
THIRD = {"name": "third@example.com", "title": "Third", "url": "https://svc.example.com/third"}
IDENTITY = PbxIdentity(domain="example.com", pbx="pbx-main", sip="pbx-obj")


class ServicesService(AppWebsocketConsumer):
    """A service that does nothing with its PBX itself: appws follows the services."""

    apps = ("pbxapp",)

    @mt("Ping")
    async def ping(self, msg: dict[str, Any]) -> dict[str, Any]:
        return {}


class Untracked(ServicesService):
    track_services = False


async def pbx_session(
    service: type = ServicesService, apis: tuple[str, ...] = ("Services",)
) -> Pbx:
    comm = AppwsCommunicator(URLRouter(service_urls(service)), "/apps/pbxapp")
    result = await comm.login(
        "pbxapp", "pwd", domain="example.com", sip="pbx-obj", info={"appobj": "pbx-obj"}
    )
    assert result["ok"] is True, result
    await comm.send_json_to({**PBX_INFO, "apis": list(apis)})
    return Pbx(comm)


@pytest.fixture
def stored(monkeypatch: pytest.MonkeyPatch) -> asyncio.Queue[Any]:
    """Each list the feature stored, once it is in the row: what a test waits on."""
    queue: asyncio.Queue[Any] = asyncio.Queue()
    store = services_feature._store

    async def recording(channel: str, info: Any, listed: Any) -> None:
        await store(channel, info, listed)
        queue.put_nowait(listed)

    monkeypatch.setattr(services_feature, "_store", recording)
    return queue


async def subscribed(session: Pbx) -> dict[str, Any]:
    request = await session.receive()
    assert (request["api"], request["mt"]) == ("Services", "SubscribeServices")
    await session.answer(request)
    return request


async def send_info(session: Pbx, request: dict[str, Any], services: Any) -> None:
    await session.send(
        {"api": "Services", "mt": "ServicesInfo", "src": request["src"], "services": services}
    )


async def row_services() -> Any:
    row = await PbxConnection.objects.aget(app_name="pbxapp")
    return row.services


def test_the_feature_is_registered_after_the_registry() -> None:
    from appws.pbx.registry import registry

    registered = features.registered()
    assert registered.index(registry) < registered.index(services_feature)


async def test_the_list_is_stored_and_replaced_on_every_services_info(stored) -> None:
    session = await pbx_session()
    request = await subscribed(session)
    await send_info(session, request, [OTHER])
    await asyncio.wait_for(stored.get(), 3)
    assert await row_services() == [OTHER]
    assert await pbx.aservices("pbxapp") == [
        PbxService(
            app="pbxapp",
            name="other@example.com",
            title="Other",
            url="wss://svc.example.com/apps/other",
            pbx=IDENTITY,
            info={"com.example.api1": {}},
        )
    ]
    await send_info(session, request, [THIRD, OTHER])
    await asyncio.wait_for(stored.get(), 3)
    listed = await pbx.aservices("pbxapp")
    assert [s.name for s in listed] == ["third@example.com", "other@example.com"]
    assert listed[0].info == {} and listed[0].apis == frozenset()
    assert listed[1].apis == {"com.example.api1"}
    assert listed[0].as_dict() == {
        "app": "pbxapp",
        "name": "third@example.com",
        "title": "Third",
        "url": "https://svc.example.com/third",
        "pbx": "pbx-obj@pbx-main.example.com",
        "info": {},
    }
    await session.close()
    assert await pbx.aservices("pbxapp") == []  # the row went with the session


async def test_services_narrowed_by_pbx_and_of_other_apps(stored) -> None:
    session = await pbx_session()
    await send_info(session, await subscribed(session), [OTHER])
    await asyncio.wait_for(stored.get(), 3)
    assert len(await pbx.aservices("pbxapp", pbx="pbx-main")) == 1
    assert len(await pbx.aservices("pbxapp", pbx={"sip": "pbx-obj"})) == 1
    assert await pbx.aservices("pbxapp", pbx="pbx-b") == []
    assert await pbx.aservices("notes") == []
    await session.close()


async def test_bad_entries_are_skipped_and_logged_quoted(stored, caplog) -> None:
    session = await pbx_session()
    request = await subscribed(session)
    bad = [
        "a string",
        {"title": "no name", "url": "wss://x/apps/y"},
        {"name": "evil\nINFO forged line", "url": "file:///etc/passwd"},
        {"name": "no-url"},
        {"name": "n", "url": "wss://x/apps/n", "title": 7},
        {"name": "i", "url": "wss://x/apps/i", "info": ["not", "an", "object"]},
        {"name": "long", "url": "wss://x/apps/" + "l" * entries.MAX_FIELD},
        {**OTHER, "title": "listed twice"},
    ]
    with caplog.at_level(logging.WARNING, logger="appws.pbx"):
        await send_info(session, request, [OTHER, *bad])
        await asyncio.wait_for(stored.get(), 3)
    assert await row_services() == [OTHER]
    [record] = [r for r in caplog.records if "ServicesInfo skipped" in r.getMessage()]
    line = record.getMessage()
    assert "8 entries" in line and "\n" not in line and "evil\\\\nINFO" in line
    await send_info(session, request, {"not": "a list"})
    await asyncio.wait_for(stored.get(), 3)
    assert await row_services() == []
    await session.close()


async def test_entries_holding_a_nul_are_skipped_on_every_database(stored, caplog) -> None:
    # PostgreSQL's JSON stores no NUL: one would fail the whole row's services there.
    session = await pbx_session()
    request = await subscribed(session)
    bad = [
        {**THIRD, "name": "third\x00"},
        {**THIRD, "title": "Th\x00ird"},
        {**OTHER, "name": "o", "info": {"com.example\x00api": {}}},
    ]
    with caplog.at_level(logging.WARNING, logger="appws.pbx"):
        await send_info(session, request, [OTHER, *bad])
        await asyncio.wait_for(stored.get(), 3)
    assert await row_services() == [OTHER]
    [record] = [r for r in caplog.records if "ServicesInfo skipped" in r.getMessage()]
    assert "3 entries" in record.getMessage() and "holds a NUL character" in record.getMessage()
    await session.close()


async def test_a_huge_list_is_cut_at_the_limit(stored) -> None:
    session = await pbx_session()
    many = [{"name": f"s{n}", "url": f"wss://x/apps/s{n}"} for n in range(entries.MAX_SERVICES + 5)]
    await send_info(session, await subscribed(session), many)
    await asyncio.wait_for(stored.get(), 3)
    assert len(await row_services()) == entries.MAX_SERVICES
    await session.close()


async def test_a_new_pbx_info_subscribes_again(stored) -> None:
    session = await pbx_session()
    first = await subscribed(session)
    await session.send({**PBX_INFO, "apis": ["Services"]})
    second = await subscribed(session)
    assert second["src"] != first["src"]
    await send_info(session, first, [THIRD])  # the old subscription's src: nobody's now
    await send_info(session, second, [OTHER])
    assert await asyncio.wait_for(stored.get(), 3) == [OTHER]
    assert await row_services() == [OTHER]
    await session.close()


async def test_without_the_api_or_with_track_services_off_nothing_is_asked() -> None:
    for service, apis in ((ServicesService, ("PbxApi",)), (Untracked, ("Services",))):
        session = await pbx_session(service, apis)
        assert await session.comm.receive_nothing()
        await session.close()


async def test_a_refused_subscription_is_logged_and_the_session_goes_on(caplog) -> None:
    session = await pbx_session()
    request = await session.receive()
    [following] = services_feature._tasks.running()
    with caplog.at_level(logging.WARNING, logger="appws.pbx"):
        await session.answer(request, error="forbidden", errorText="not for you")
        await asyncio.wait_for(following, 3)  # it ends, not the session
        reply = await session.comm.request({"mt": "Ping"})
    assert reply["mt"] == "PingResult"
    assert any("did not take SubscribeServices" in r.getMessage() for r in caplog.records)
    await session.close()


async def test_a_list_arriving_before_the_row_is_kept_for_it(stored) -> None:
    session = await pbx_session()
    request = await subscribed(session)
    await PbxConnection.objects.all().adelete()  # as if its process had been swept
    await send_info(session, request, [OTHER])
    await asyncio.wait_for(stored.get(), 3)
    assert await pbx.aservices("pbxapp") == []
    # The registry writes the row again (the process revived): the list comes with it.
    from appws import live_sessions
    from appws.models import ServerProcess

    await ServerProcess.objects.all().adelete()
    await live_sessions.beat()
    assert [s.name for s in await pbx.aservices("pbxapp")] == ["other@example.com"]
    await session.close()


async def test_connecting_to_an_unknown_service_names_the_known_ones(stored) -> None:
    with pytest.raises(UnknownService, match="they list none"):
        await pbx.connect_service("pbxapp", "other@example.com")
    session = await pbx_session()
    await send_info(session, await subscribed(session), [THIRD, OTHER])
    await asyncio.wait_for(stored.get(), 3)
    with pytest.raises(UnknownService) as raised:
        await pbx.connect_service("pbxapp", "nobody")
    assert raised.value.known == ("other@example.com", "third@example.com")
    assert str(raised.value) == (
        "No PBX connected to App 'pbxapp' lists a service 'nobody': they list "
        "'other@example.com', 'third@example.com'."
    )
    await session.close()


async def test_a_services_info_with_another_src_is_not_taken(stored) -> None:
    session = await pbx_session()
    request = await subscribed(session)
    forged = {"api": "Services", "mt": "ServicesInfo", "src": "not-ours", "services": [THIRD]}
    await session.send(forged)
    await send_info(session, request, [OTHER])
    # The first list stored is the subscription's own: the other src reached nobody.
    assert await asyncio.wait_for(stored.get(), 3) == [OTHER]
    assert await row_services() == [OTHER]
    await session.close()


async def test_a_service_login_digest_is_in_no_log_line(caplog) -> None:
    session = await pbx_session()
    await subscribed(session)
    digest = "f00d" * 16
    with caplog.at_level(logging.DEBUG):
        asking = asyncio.create_task(
            pbx.arequest(
                "pbxapp",
                {"mt": "GetServiceLogin", "app": OTHER["name"], "challenge": "1234"},
                api="Services",
            )
        )
        asked = await session.receive()
        assert (asked["mt"], asked["challenge"]) == ("GetServiceLogin", "1234")
        await session.answer(asked, app="other", sip="pbx-obj", digest=digest, key="k", salt="s")
        assert (await asyncio.wait_for(asking, 3))["digest"] == digest
        # The same answer again, late: dropped, and logged without its content.
        await session.answer(asked, app="other", sip="pbx-obj", digest=digest)
        assert (await session.comm.request({"mt": "Ping"}))["mt"] == "PingResult"
    assert any("dropped" in record.getMessage() for record in caplog.records)
    assert not [r for r in caplog.records if digest in r.getMessage()]
    await session.close()


def stale_row_listing_a_service() -> None:
    from datetime import timedelta

    from django.utils import timezone

    from tests.pbx_standin import row_of_another_process

    row_of_another_process("deadhost", "gone!1", timezone.now() - timedelta(hours=1))
    PbxConnection.objects.update(services=[OTHER])


async def test_services_of_a_stale_process_are_not_listed() -> None:
    from asgiref.sync import sync_to_async

    await sync_to_async(stale_row_listing_a_service)()
    assert await pbx.aservices("pbxapp") == []
    with pytest.raises(UnknownService):
        await pbx.connect_service("pbxapp", OTHER["name"])

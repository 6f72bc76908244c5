"""The database registry of connected PBXs: rows, replacement, stale processes, heartbeat."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.utils import timezone

from appws import live_sessions
from appws.layer import events
from appws.models import PbxConnection, ServerProcess
from appws.pbx import connected_pbxs
from appws.server import features
from tests.pbx_standin import StandIn, row_of_another_process

# TRACK_SESSIONS is off in the test settings: the registry works without it.
pytestmark = pytest.mark.django_db(transaction=True)


async def rows() -> list[PbxConnection]:
    return [row async for row in PbxConnection.objects.select_related("server")]


def test_the_registry_is_registered_with_pbx_sessions() -> None:
    from appws.pbx.registry import registry

    assert registry in features.registered()


async def test_a_connected_pbx_has_a_row_with_its_identity_apis_and_process() -> None:
    pbx = await StandIn(apis=("PbxApi", "PbxSignal")).connect()
    [row] = await rows()
    assert (row.app_name, row.domain, row.pbx, row.sip) == (
        "pbxapp",
        "example.com",
        "pbx-main",
        "pbxapp-obj",
    )
    assert row.apis == ["PbxApi", "PbxSignal"]
    assert (row.dns, row.version, row.build) == ("pbx-main.example.com", "13r3", "1234")
    assert row.channel_name == pbx.channel
    assert row.server.ident == live_sessions.PROCESS_IDENT
    await pbx.disconnect()


async def test_disconnecting_deletes_the_row_and_releases_the_process() -> None:
    pbx = await StandIn().connect()
    assert live_sessions._registry.task is not None  # the heartbeat beats for the PBX row
    await pbx.disconnect()
    assert await rows() == []
    assert live_sessions._registry.task is None


async def test_a_pbx_connecting_again_replaces_its_older_connection() -> None:
    older = await StandIn().connect()
    newer = await StandIn().connect()
    assert [row.channel_name for row in await rows()] == [newer.channel]
    assert await older.next_event() == events.pbx_replaced()
    assert newer.received == []
    # The older session ends (4409) and reports so: the newer row stays.
    await older.disconnect()
    assert [row.channel_name for row in await rows()] == [newer.channel]
    await newer.disconnect()


async def test_of_two_rows_of_one_pbx_written_at_once_the_newer_stays() -> None:
    # PostgreSQL hands out primary keys before commits: another process's row can hold the
    # higher pk yet be visible before ours is written (pk 10**6 here, SQLite's next pk
    # is above it). The row with the higher pk stays; the other session is told to end.
    await sync_to_async(row_of_another_process)("otherhost", "other!1", timezone.now())
    await PbxConnection.objects.filter(channel_name="other!1").aupdate(id=10**6)
    pbx = await StandIn().connect()
    [row] = await rows()
    ours_gave_way = row.channel_name == "other!1"
    assert ours_gave_way == (row.pk == 10**6)
    if ours_gave_way:
        assert await pbx.next_event() == events.pbx_replaced()
    await pbx.disconnect()


@pytest.mark.parametrize("field", ["pbx", "version", "apis"])
async def test_a_pbx_info_holding_a_nul_is_ignored_on_every_database(
    connect: Any, caplog: pytest.LogCaptureFixture, field: str
) -> None:
    # PostgreSQL stores no NUL: the PBX's row would fail there and be written on SQLite.
    comm = await connect(
        "/apps/pbxapp", login=("pbxapp", "pwd"), domain="example.com", sip="pbxapp-obj",
        info={"appobj": "pbxapp-obj"},
    )  # fmt: skip
    info = {"mt": "PbxInfo", "pbx": "pbx-main", "apis": ["PbxApi"], "version": "14r2"}
    info[field] = ["Pbx\x00Api"] if field == "apis" else "x\x00y"
    with caplog.at_level(logging.WARNING):
        await comm.send_json_to(info)
        assert await comm.receive_nothing()
    assert (await comm.request({"mt": "Session"}))["pbxInfo"] is None
    assert await rows() == []
    assert any(
        f"PbxInfo '{field}' must not contain a NUL" in r.getMessage() for r in caplog.records
    )


@pytest.mark.parametrize("field", ["pbx", "pbxDns", "version", "build", "sip"])
async def test_a_pbx_info_longer_than_its_row_takes_is_ignored_on_every_database(
    connect: Any, caplog: pytest.LogCaptureFixture, field: str
) -> None:
    # PostgreSQL refuses text over a column's length (255), where SQLite stores it.
    sip = "s" * 256 if field == "sip" else "pbxapp-obj"
    comm = await connect(
        "/apps/pbxapp", login=("pbxapp", "pwd"), domain="example.com", sip=sip,
        info={"appobj": sip},
    )  # fmt: skip
    info = {"mt": "PbxInfo", "pbx": "pbx-main", "apis": ["PbxApi"], "version": "14r2"}
    if field != "sip":
        info[field] = "x" * 256
    with caplog.at_level(logging.WARNING):
        await comm.send_json_to(info)
        assert await comm.receive_nothing()
    assert (await comm.request({"mt": "Session"}))["pbxInfo"] is None
    assert await rows() == []
    assert any("longer than 255" in r.getMessage() for r in caplog.records)


async def test_other_pbxs_and_app_objects_are_not_replaced() -> None:
    first = await StandIn().connect()
    other_pbx = await StandIn(pbx="pbx-b").connect()
    other_object = await StandIn(sip="second-obj").connect()
    assert len(await rows()) == 3
    assert first.received == other_pbx.received == other_object.received == []
    for pbx in (first, other_pbx, other_object):
        await pbx.disconnect()


def stale_process_row() -> None:
    row_of_another_process("deadhost", "gone!1", timezone.now() - timedelta(hours=1))


async def test_rows_of_a_stale_process_count_as_not_connected_and_are_swept() -> None:
    await sync_to_async(stale_process_row)()
    assert await sync_to_async(connected_pbxs)() == []
    pbx = await StandIn(pbx="pbx-b").connect()
    await live_sessions.beat()
    assert [row.channel_name for row in await rows()] == [pbx.channel]
    await pbx.disconnect()


async def test_a_stale_row_of_the_same_pbx_is_replaced_without_telling_anyone() -> None:
    await sync_to_async(stale_process_row)()
    pbx = await StandIn().connect()
    assert [row.channel_name for row in await rows()] == [pbx.channel]
    await pbx.disconnect()


async def test_a_process_judged_stale_writes_its_pbx_rows_again() -> None:
    pbx = await StandIn().connect()
    await ServerProcess.objects.all().adelete()  # swept by another process after a long pause
    assert await rows() == []
    await live_sessions.beat()
    assert [row.channel_name for row in await rows()] == [pbx.channel]
    assert pbx.received == []
    await pbx.disconnect()


def newer_row_elsewhere() -> None:
    row_of_another_process("otherhost", "elsewhere!2", timezone.now())


async def test_a_revived_process_whose_pbx_connected_elsewhere_ends_its_session() -> None:
    pbx = await StandIn().connect()
    await ServerProcess.objects.filter(ident=live_sessions.PROCESS_IDENT).adelete()
    await sync_to_async(newer_row_elsewhere)()
    await live_sessions.beat()
    assert [row.channel_name for row in await rows()] == ["elsewhere!2"]
    assert await pbx.next_event() == events.pbx_replaced()
    await pbx.disconnect()


async def test_a_graceful_stop_takes_the_pbx_rows_with_the_process_row() -> None:
    pbx = await StandIn().connect()
    try:
        await live_sessions.end_process()
        assert await rows() == []
    finally:
        live_sessions._registry.stopping = False
        await pbx.disconnect()

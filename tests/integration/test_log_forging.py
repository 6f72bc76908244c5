"""A client-chosen ``sip`` with a newline or a terminal escape cannot write log lines."""

from __future__ import annotations

import logging

import pytest
from asgiref.sync import sync_to_async

from appws import live_sessions
from appws.models import LiveSession

pytestmark = pytest.mark.django_db(transaction=True)

FORGED = "x\nFAKE appws line\x1b[31m"


def only_record(caplog: pytest.LogCaptureFixture, text: str) -> logging.LogRecord:
    found = [r for r in caplog.records if r.name == "appws.login" and text in r.getMessage()]
    assert len(found) == 1, [r.getMessage() for r in caplog.records]
    return found[0]


def assert_quoted(record: logging.LogRecord) -> None:
    message = record.getMessage()
    assert "\n" not in message and "\x1b" not in message, message
    assert repr(FORGED) in message, message


async def test_admin_disconnect_logs_one_line_with_the_sip_escaped(connect, settings, caplog):
    settings.APPWS = {**settings.APPWS, "TRACK_SESSIONS": True}
    caplog.set_level(logging.INFO, logger="appws.login")
    comm = await connect(login=("notes", "notes-secret"), sip=FORGED)
    assert_quoted(only_record(caplog, "AppLogin ok"))
    told = await sync_to_async(live_sessions.disconnect_sessions)(
        LiveSession.objects.filter(sip=FORGED)
    )
    assert told == 1
    assert (await comm.receive_output(1))["code"] == 4000
    assert_quoted(only_record(caplog, "disconnected by an administrator"))


async def test_a_failed_live_registration_logs_the_sip_escaped(
    connect, settings, monkeypatch, caplog
):
    settings.APPWS = {**settings.APPWS, "TRACK_SESSIONS": True}

    async def broken(consumer, fields):
        raise RuntimeError("no such table: appws_livesession")

    monkeypatch.setattr(live_sessions, "register", broken)
    await connect(login=("notes", "notes-secret"), sip=FORGED)
    assert_quoted(only_record(caplog, "could not record the live session"))


async def test_a_refused_login_logs_the_sip_escaped(connect, caplog):
    caplog.set_level(logging.INFO, logger="appws.login")
    comm = await connect()
    result = await comm.login("notes", "wrong-secret", sip=FORGED)
    assert result["ok"] is False
    assert_quoted(only_record(caplog, "AppLogin refused"))

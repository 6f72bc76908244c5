"""Failed logins are throttled per remote address."""

from __future__ import annotations

from appws import protocol
from appws.handshake import THROTTLED_CLOSE_CODE


async def attempt(connect, password):
    comm = await connect()
    challenge = (await comm.request({"mt": "AppChallenge"}))["challenge"]
    login = {"mt": "AppLogin", "app": "notes"}
    login["digest"] = protocol.login_digest(login, challenge, password)
    result = await comm.request(login)
    closed = await comm.receive_output() if result["ok"] is False else None
    return result, closed


async def test_past_the_limit_even_the_right_password_is_refused(connect, settings):
    settings.APPWS = {**settings.APPWS, "LOGIN_FAILURE_LIMIT": 3, "LOGIN_FAILURE_WINDOW": 60}
    for _ in range(3):
        result, _closed = await attempt(connect, "guess")
        assert "wrong digest" in result["errorText"]
    result, closed = await attempt(connect, "notes-secret")
    assert result["ok"] is False
    assert result["errorText"].startswith("too many failed logins from this address")
    assert closed["code"] == THROTTLED_CLOSE_CODE


async def test_below_the_limit_logins_work(connect, settings):
    settings.APPWS = {**settings.APPWS, "LOGIN_FAILURE_LIMIT": 3}
    for _ in range(2):
        await attempt(connect, "guess")
    result, _closed = await attempt(connect, "notes-secret")
    assert result["ok"] is True


async def test_other_addresses_are_not_affected(connect, settings):
    from appws.testing import AppwsCommunicator
    from tests.services import application

    settings.APPWS = {**settings.APPWS, "LOGIN_FAILURE_LIMIT": 1}
    await attempt(connect, "guess")
    assert (await attempt(connect, "notes-secret"))[0]["ok"] is False
    other = AppwsCommunicator(application, "/apps/notes")
    other.scope["client"] = ["192.0.2.7", 50000]
    assert (await other.login("notes", "notes-secret"))["ok"] is True
    await other.disconnect()

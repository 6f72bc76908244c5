"""Failed logins are throttled per remote address."""

from __future__ import annotations

import asyncio

import pytest

from appws import protocol
from appws.protocol import CloseCode
from appws.server import throttle


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
    assert closed["code"] == CloseCode.THROTTLED


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


# -- concurrency: a slot is reserved before the digest is checked ---------------


class DigestCounter:
    """Counts the digests appws checks, and how many of them were wrong."""

    def __init__(self, monkeypatch) -> None:
        self.checked = 0
        self.wrong = 0
        real = protocol.verify_login

        def counting(*args, **kwargs):
            ok = real(*args, **kwargs)
            self.checked += 1
            self.wrong += not ok
            return ok

        monkeypatch.setattr(protocol, "verify_login", counting)


async def logins_at_once(connect, passwords, client=None):
    """Challenge every connection first, then send all the AppLogins at once."""
    from appws.testing import AppwsCommunicator
    from tests.services import application

    comms = []
    for _ in passwords:
        if client is None:
            comm = await connect()
        else:  # the scope is read when the connection opens
            comm = AppwsCommunicator(application, "/apps/notes")
            comm.scope["client"] = client
            assert (await comm.connect())[0]
        comms.append(comm)
    logins = []
    for comm, password in zip(comms, passwords, strict=True):
        challenge = (await comm.request({"mt": "AppChallenge"}))["challenge"]
        login = {"mt": "AppLogin", "app": "notes"}
        login["digest"] = protocol.login_digest(login, challenge, password)
        logins.append(login)
    for comm, login in zip(comms, logins, strict=True):
        await comm.send_json_to(login)
    results = [await comm.receive_json_from(5) for comm in comms]
    if client is not None:
        for comm in comms:
            await comm.disconnect()
    return results


async def test_concurrent_wrong_logins_check_at_most_the_limit(connect, settings, monkeypatch):
    settings.APPWS = {**settings.APPWS, "LOGIN_FAILURE_LIMIT": 3}
    digests = DigestCounter(monkeypatch)
    results = await logins_at_once(connect, ["guess"] * 30)
    assert digests.checked == 3
    texts = [result["errorText"] for result in results]
    assert sum(text.startswith("wrong digest") for text in texts) == 3
    assert sum(text.startswith("too many failed logins") for text in texts) == 27


async def test_a_crowd_of_right_logins_from_one_address_all_get_in(connect, settings):
    # Many users behind one NAT: more logins at once than the limit has slots.
    settings.APPWS = {**settings.APPWS, "LOGIN_FAILURE_LIMIT": 2}
    results = await logins_at_once(connect, ["notes-secret"] * 25)
    assert [result["ok"] for result in results] == [True] * 25


async def test_right_and_wrong_logins_at_once(connect, settings, monkeypatch):
    settings.APPWS = {**settings.APPWS, "LOGIN_FAILURE_LIMIT": 4}
    digests = DigestCounter(monkeypatch)
    results = await logins_at_once(connect, ["guess", "notes-secret"] * 10)
    assert digests.wrong == 4
    assert sum(result["ok"] for result in results) == digests.checked - 4


# -- the throttle itself ----------------------------------------------------------


async def test_a_login_waits_for_a_slot_given_back(settings):
    settings.APPWS = {**settings.APPWS, "LOGIN_FAILURE_LIMIT": 2}
    held = [await throttle.reserve("192.0.2.1"), await throttle.reserve("192.0.2.1")]
    with pytest.raises(throttle.Throttled, match="too many logins at once"):
        await throttle.reserve("192.0.2.1", timeout=0)
    waiting = asyncio.ensure_future(throttle.reserve("192.0.2.1", timeout=30))
    await held[0].release()
    third = await asyncio.wait_for(waiting, 5)
    await third.release()
    await held[1].release()


async def test_waiting_logins_are_refused_once_the_failures_reach_the_limit(settings):
    settings.APPWS = {**settings.APPWS, "LOGIN_FAILURE_LIMIT": 2}
    held = [await throttle.reserve("192.0.2.1"), await throttle.reserve("192.0.2.1")]
    waiting = asyncio.ensure_future(throttle.reserve("192.0.2.1", timeout=30))
    assert await held[0].failed() is False
    assert await held[1].failed() is True
    # Woken by the failure that filled the window, not left to its deadline.
    with pytest.raises(throttle.Throttled, match="too many failed logins"):
        await asyncio.wait_for(waiting, 5)


async def test_a_success_does_not_count(settings):
    settings.APPWS = {**settings.APPWS, "LOGIN_FAILURE_LIMIT": 1}
    for _ in range(5):
        await (await throttle.reserve("192.0.2.1", timeout=0)).release()
    slot = await throttle.reserve("192.0.2.1", timeout=0)
    assert await slot.failed() is True
    await slot.release()  # after failed(): nothing to give back
    with pytest.raises(throttle.Throttled, match="too many failed logins"):
        await throttle.reserve("192.0.2.1", timeout=0)


async def test_only_wrong_digests_count(connect, settings):
    # A PBX or a NAT full of users must not lock itself out with refusals that tested
    # no password: an App not served here, a missing challenge, a refused user.
    settings.APPWS = {**settings.APPWS, "LOGIN_FAILURE_LIMIT": 2}
    for _ in range(3):
        comm = await connect()
        await comm.request({"mt": "AppChallenge"})
        reply = await comm.request({"mt": "AppLogin", "app": "calendar", "digest": "0" * 64})
        assert "not served here" in reply["errorText"]
    result, _ = await attempt(connect, "notes-secret")
    assert result["ok"] is True


async def test_a_cache_error_while_reserving_leaks_no_slot(settings, monkeypatch):
    settings.APPWS = {**settings.APPWS, "LOGIN_FAILURE_LIMIT": 1}
    increment = throttle._increment

    async def unreachable(counter, timeout):
        raise ConnectionError("the cache is down")

    monkeypatch.setattr(throttle, "_increment", unreachable)
    with pytest.raises(throttle.CacheUnavailable):
        await throttle.reserve("192.0.2.9", timeout=0)
    monkeypatch.setattr(throttle, "_increment", increment)
    # The one slot of this process is free again: the next login gets it at once.
    await (await throttle.reserve("192.0.2.9", timeout=0)).release()


async def test_a_login_while_the_cache_is_down_is_refused_with_a_reason(connect, monkeypatch):
    # It crashed the consumer (no AppLoginResult) with Django's cache on an unreachable Redis.
    async def unreachable(name, *args):
        raise ConnectionRefusedError("the cache's server is down")

    monkeypatch.setattr(throttle, "_call", unreachable)
    result, closed = await attempt(connect, "notes-secret")
    assert result["ok"] is False
    assert result["errorText"].startswith("logins cannot be checked for a moment")
    assert closed == {"type": "websocket.close", "code": CloseCode.THROTTLED}


async def test_counting_a_failure_while_the_cache_is_down_does_not_crash(settings, monkeypatch):
    slot = await throttle.reserve("192.0.2.6", timeout=0)

    async def unreachable(name, *args):
        raise ConnectionRefusedError("the cache's server is down")

    monkeypatch.setattr(throttle, "_call", unreachable)
    assert await slot.failed() is False  # uncounted, and said so in the log
    other = throttle.Slot(slot._key, slot._window, slot._local)
    slot._local.held += 1  # as reserve() would have counted it
    await other.release()  # giving a slot back does not raise either


async def test_a_login_cancelled_while_reserving_leaks_no_slot(settings, monkeypatch):
    settings.APPWS = {**settings.APPWS, "LOGIN_FAILURE_LIMIT": 1}
    increment = throttle._increment
    entered, never = asyncio.Event(), asyncio.Event()

    async def stuck(counter, timeout):
        entered.set()
        await never.wait()

    monkeypatch.setattr(throttle, "_increment", stuck)
    reserving = asyncio.ensure_future(throttle.reserve("192.0.2.8", timeout=0))
    await entered.wait()
    reserving.cancel()  # as daphne cancels a consumer whose client went away
    with pytest.raises(asyncio.CancelledError):
        await reserving
    monkeypatch.setattr(throttle, "_increment", increment)
    await (await throttle.reserve("192.0.2.8", timeout=0)).release()


async def test_a_waiting_login_that_gives_up_leaves_no_sleeper_behind(settings):
    settings.APPWS = {**settings.APPWS, "LOGIN_FAILURE_LIMIT": 1}
    held = await throttle.reserve("192.0.2.7")
    (local,) = [entry for entry in throttle._locals.values() if entry.held]
    # It waits once for the slot, then gives up at its deadline.
    with pytest.raises(throttle.Throttled, match="too many logins at once"):
        await throttle.reserve("192.0.2.7", timeout=0.05)
    assert not local.sleepers
    await held.release()


# -- IPv6: one /64 is one client -------------------------------------------------


@pytest.mark.parametrize(
    ("address", "key"),
    [
        ("192.0.2.7", "192.0.2.7"),
        ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"),
        ("2001:db8:1:2::ffff", "2001:db8:1:2::/64"),
        ("fe80::1%eth0", "fe80::/64"),
        ("::ffff:192.0.2.7", "192.0.2.7"),
        ("unknown", "unknown"),
    ],
)
def test_throttle_key(address, key):
    assert throttle.throttle_key(address) == key


async def test_ipv6_addresses_of_one_64_share_the_limit(connect, settings):
    settings.APPWS = {**settings.APPWS, "LOGIN_FAILURE_LIMIT": 1}
    [first] = await logins_at_once(connect, ["guess"], client=["2001:db8:0:1::1", 5000])
    assert first["errorText"].startswith("wrong digest")
    [same_64] = await logins_at_once(connect, ["notes-secret"], client=["2001:db8:0:1::2", 5000])
    assert same_64["errorText"].startswith("too many failed logins")
    [other_64] = await logins_at_once(connect, ["notes-secret"], client=["2001:db8:0:2::1", 5000])
    assert other_64["ok"] is True

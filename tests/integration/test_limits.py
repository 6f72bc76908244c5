"""Limits per connection, each a setting with a safe default, and origin checks."""

from __future__ import annotations

import json
import logging

import pytest

from appws.server.limits import RateLimiter, origin_allowed
from appws.testing import AppwsCommunicator

NOTES = ("notes", "notes-secret")


def limit(settings, **values):
    settings.APPWS = {**settings.APPWS, **values}


async def test_nesting_deeper_than_the_limit(connect, settings):
    limit(settings, MAX_DEPTH=4)
    comm = await connect(login=NOTES)
    ok = {"mt": "ListNotes", "a": {"b": {"c": [1]}}}  # depth 4
    assert (await comm.request(ok))["mt"] == "ListNotesResult"
    await comm.send_to(text_data=json.dumps({"mt": "ListNotes", "a": {"b": {"c": [[1]]}}}))
    reply = await comm.receive_json_from()
    assert reply["mt"] == "Error" and reply["error"] == "too-deep"
    assert (await comm.request({"mt": "ListNotes"}))["mt"] == "ListNotesResult"


async def test_many_flat_brackets_are_not_depth(connect, settings):
    limit(settings, MAX_DEPTH=3)
    comm = await connect(login=NOTES)
    reply = await comm.request({"mt": "ListNotes", "list": [[1], [2], [3], {"a": 1}]})
    assert reply["mt"] == "ListNotesResult"


def padded(mt: str, size: int) -> str:
    """A frame of exactly ``size`` bytes."""
    head = f'{{"mt":"{mt}","pad":"'
    return head + "x" * (size - len(head) - 2) + '"}'


def counting_parses(monkeypatch):
    """Texts handed to the JSON parser from now on."""
    from appws.protocol import envelope

    parsed = []
    parse = envelope._parse
    monkeypatch.setattr(envelope, "_parse", lambda text: parsed.append(text) or parse(text))
    return parsed


async def test_frames_before_login_have_a_smaller_limit(connect, settings, monkeypatch):
    limit(settings, MAX_LOGIN_MESSAGE_BYTES=1000)
    parsed = counting_parses(monkeypatch)
    comm = await connect()
    await comm.send_to(text_data=padded("AppChallenge", 1001))
    reply = await comm.receive_json_from()
    assert reply == {
        "mt": "Error",
        "error": "too-large",
        "errorText": "frame is larger than 1000 bytes, the limit before login: log in with a "
        "smaller AppLogin (less info), then send larger messages",
    }
    assert parsed == []  # refused from its length alone
    await comm.send_to(text_data=padded("AppChallenge", 1000))
    assert (await comm.receive_json_from())["mt"] == "AppChallengeResult"
    assert (await comm.login(*NOTES))["ok"] is True
    assert (await comm.request(json.loads(padded("ListNotes", 5000))))["mt"] == "ListNotesResult"


async def test_the_default_limit_before_login_is_64_kib(connect, monkeypatch):
    parsed = counting_parses(monkeypatch)
    comm = await connect()
    await comm.send_to(text_data=padded("AppChallenge", 64 * 1024 + 1))
    reply = await comm.receive_json_from()
    assert (
        reply["error"] == "too-large"
        and "65536 bytes, the limit before login" in (reply["errorText"])
    )
    assert parsed == []


async def test_the_limit_before_login_is_capped_by_the_frame_limit(connect, settings):
    limit(settings, MAX_MESSAGE_BYTES=500, MAX_LOGIN_MESSAGE_BYTES=1000)
    comm = await connect()
    await comm.send_to(text_data=padded("AppChallenge", 501))
    assert "500 bytes, the limit before login" in (await comm.receive_json_from())["errorText"]


async def test_objects_and_arrays_before_login_are_limited(connect, settings, monkeypatch):
    limit(settings, MAX_LOGIN_CONTAINERS=10)
    parsed = counting_parses(monkeypatch)
    comm = await connect()
    many = {"mt": "AppChallenge", "a": [[] for _ in range(10)]}  # 12 with the frame
    await comm.send_json_to(many)
    reply = await comm.receive_json_from()
    assert reply["error"] == "too-large"
    assert reply["errorText"].startswith(
        "frame holds more than 10 objects and arrays, the limit before login"
    )
    assert parsed == []
    assert (await comm.request({**many, "a": [[]] * 8}))["mt"] == "AppChallengeResult"
    assert (await comm.login(*NOTES))["ok"] is True
    assert (await comm.request({"mt": "ListNotes", "a": [[]] * 1000}))["mt"] == "ListNotesResult"


async def test_strangers_share_one_budget_and_logged_in_sessions_never_wait(connect, settings):
    # Bursts of 4 * 1000 bytes, refilled at 1 byte per second: spent after three frames.
    limit(settings, MAX_LOGIN_MESSAGE_BYTES=1000, LOGIN_BYTES_PER_SECOND=1)
    member = await connect(login=NOTES)  # its own login spends a few hundred bytes
    stranger = await connect()
    for _ in range(3):
        await stranger.send_to(text_data=padded("ListNotes", 990))
        assert (await stranger.receive_json_from())["error"] == "not-logged-in"
    await stranger.send_to(text_data=padded("ListNotes", 990))
    assert await stranger.receive_nothing(0.2)  # waiting for the budget, unanswered
    assert (await member.request({"mt": "ListNotes"}))["mt"] == "ListNotesResult"
    latecomer = await connect()
    await latecomer.send_to(text_data='{"mt":"AppChallenge"}')
    assert await latecomer.receive_nothing(0.2)  # its turn comes after the stranger's


async def test_frames_refused_by_their_size_cost_no_budget(connect, settings):
    limit(settings, MAX_LOGIN_MESSAGE_BYTES=1000, LOGIN_BYTES_PER_SECOND=1)
    stranger = await connect()
    for _ in range(10):  # 20,000 bytes, five times the burst, and never parsed
        await stranger.send_to(text_data=padded("ListNotes", 2000))
        assert (await stranger.receive_json_from())["error"] == "too-large"
    assert (await stranger.request({"mt": "AppChallenge"}))["mt"] == "AppChallengeResult"


async def test_a_budget_of_zero_is_no_budget(connect, settings):
    limit(settings, MAX_LOGIN_MESSAGE_BYTES=1000, LOGIN_BYTES_PER_SECOND=0)
    stranger = await connect()
    for _ in range(10):
        await stranger.send_to(text_data=padded("ListNotes", 990))
        assert (await stranger.receive_json_from())["error"] == "not-logged-in"


async def test_src_longer_than_the_limit(connect, settings):
    limit(settings, MAX_SRC_LENGTH=8)
    comm = await connect()
    assert (await comm.request({"mt": "AppChallenge", "src": "x" * 8}))["src"] == "x" * 8
    reply = await comm.request({"mt": "AppChallenge", "src": "x" * 9})
    assert reply["mt"] == "Error" and reply["error"] == "bad-src" and "src" not in reply


async def test_subscriptions_per_session(connect, settings):
    limit(settings, MAX_SUBSCRIPTIONS=2)
    comm = await connect(login=NOTES)
    for src in ("1", "2"):
        assert "error" not in await comm.request({"mt": "Subscribe", "topic": "t", "src": src})
    again = await comm.request({"mt": "Subscribe", "topic": "t", "src": "2"})
    assert "error" not in again  # the same subscription again is no new one
    reply = await comm.request({"mt": "Subscribe", "topic": "u", "src": "3"})
    assert reply["error"] == "too-many-subscriptions" and reply["src"] == "3"
    await comm.request({"mt": "Unsubscribe", "topic": "t", "src": "1", "one": True})
    assert "error" not in await comm.request({"mt": "Subscribe", "topic": "u", "src": "3"})


async def test_rate_limit_answers_excess_then_closes_a_flood(connect, settings):
    limit(settings, RATE_LIMIT=0.001, RATE_BURST=3)
    comm = await connect(login=NOTES)  # the login used 2 of 3 tokens
    assert (await comm.request({"mt": "ListNotes"}))["mt"] == "ListNotesResult"
    for number in range(3):
        reply = await comm.request({"mt": "ListNotes", "src": str(number)})
        assert reply["error"] == "rate-limited" and reply["src"] == str(number)
    await comm.send_json_to({"mt": "ListNotes"})
    assert await comm.receive_output() == {
        "type": "websocket.close",
        "code": 4008,
        "reason": "message flood",
    }


def test_rate_limiter_refills_and_forgives_at_half_the_rate():
    bucket = RateLimiter(rate=10, burst=2)
    assert bucket.allow() and bucket.allow()
    assert not bucket.allow() and not bucket.allow() and not bucket.allow()
    assert bucket.flooding  # 3 refusals outstanding > burst 2
    bucket.updated -= 0.2  # 0.2 s later: 2 tokens back, 1 refusal forgiven
    assert bucket.allow()
    assert not bucket.flooding


def test_a_client_at_twice_the_rate_is_a_flood_in_time():
    bucket = RateLimiter(rate=10, burst=5)
    for _ in range(200):  # 20 messages per second for 10 simulated seconds
        bucket.updated -= 0.05
        bucket.allow()
        if bucket.flooding:
            break
    assert bucket.flooding


async def test_messages_before_login(connect, settings):
    limit(settings, MAX_MESSAGES_BEFORE_LOGIN=3)
    comm = await connect()
    for _ in range(3):
        await comm.request({"mt": "AppChallenge"})
    await comm.send_json_to({"mt": "AppChallenge"})
    closed = await comm.receive_output()
    assert closed["code"] == 4008 and closed["reason"] == "too many messages before login"


async def test_login_timeout(connect, settings):
    limit(settings, LOGIN_TIMEOUT=0.05)
    comm = await connect()
    closed = await comm.receive_output(timeout=5)
    assert closed == {"type": "websocket.close", "code": 4408, "reason": "login timeout"}


async def test_a_logged_in_session_outlives_the_login_timeout(connect, settings):
    limit(settings, LOGIN_TIMEOUT=0.05)
    comm = await connect(login=NOTES)
    assert await comm.receive_nothing(timeout=0.2)
    assert (await comm.request({"mt": "ListNotes"}))["mt"] == "ListNotesResult"


@pytest.mark.parametrize(
    ("origin", "allowed"),
    [
        ("http://localhost:8000", True),
        ("https://testserver", True),
        ("https://myapps.example.com", True),
        ("https://evil.example.net", False),
        ("null", False),
        ("not a url", False),
    ],
)
async def test_browser_origins(settings, caplog, origin, allowed):
    from tests.services import application

    settings.ALLOWED_HOSTS = ["localhost", "testserver"]
    limit(settings, ALLOWED_ORIGINS=["https://myapps.example.com"])
    comm = AppwsCommunicator(application, "/apps/notes", headers=[(b"origin", origin.encode())])
    with caplog.at_level(logging.WARNING, logger="appws"):
        connected, _code = await comm.connect()
    assert connected is allowed
    if not allowed:
        assert f"WebSocket from origin {origin!r} refused" in caplog.text
    await comm.disconnect()


async def test_no_origin_header_is_a_pbx_or_a_script(connect):
    comm = await connect(login=NOTES)
    assert (await comm.request({"mt": "ListNotes"}))["mt"] == "ListNotesResult"


def test_origin_rules(settings):
    settings.ALLOWED_HOSTS = [".example.com", "[::1]"]
    assert origin_allowed("https://a.example.com", [])
    assert origin_allowed("http://[::1]:8000", [])
    assert not origin_allowed("https://example.org", [])
    assert origin_allowed("https://example.org", ["*"])

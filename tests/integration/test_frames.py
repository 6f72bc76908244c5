"""Frames that cannot be read are answered with an Error and leave the connection intact."""

from __future__ import annotations

import json

import pytest

from appws.protocol import DEFAULT_MAX_MESSAGE_BYTES

BAD_TEXT_FRAMES = [
    ("{not json", "not-json"),
    ("NaN", "not-json"),
    ("[1, 2]", "not-object"),
    ('"AppChallenge"', "not-object"),
    ("{}", "no-mt"),
    ('{"mt": 5}', "no-mt"),
    ('{"mt": ""}', "no-mt"),
    ('{"mt": "ListNotes", "api": 3}', "bad-api"),
    ('{"mt": "ListNotes", "src": {"a": 1}}', "bad-src"),
]


async def assert_still_serves(comm):
    reply = await comm.request({"mt": "AppChallenge", "src": "alive"})
    assert reply["mt"] == "AppChallengeResult" and reply["src"] == "alive"


@pytest.mark.parametrize(("frame", "code"), BAD_TEXT_FRAMES)
@pytest.mark.parametrize("logged_in", [False, True])
async def test_unreadable_text_frames(connect, frame, code, logged_in):
    comm = await connect(login=("notes", "notes-secret") if logged_in else None)
    await comm.send_to(text_data=frame)
    reply = await comm.receive_json_from()
    assert set(reply) == {"mt", "error", "errorText"}
    assert reply["mt"] == "Error" and reply["error"] == code
    assert reply["errorText"]
    await assert_still_serves(comm)


NESTED_FAR_TOO_DEEP = "[" * 100_000 + "]" * 100_000


async def test_nesting_far_too_deep_is_refused_unparsed(connect):
    comm = await connect()
    await comm.send_to(text_data=NESTED_FAR_TOO_DEEP)  # before login: 200 kB
    assert (await comm.receive_json_from())["error"] == "too-large"
    assert (await comm.login("notes", "notes-secret"))["ok"] is True
    await comm.send_to(text_data=NESTED_FAR_TOO_DEEP)
    assert (await comm.receive_json_from())["error"] == "too-deep"
    await assert_still_serves(comm)


async def test_nesting_beyond_the_parser_with_no_depth_limit_to_speak_of(connect, settings):
    settings.APPWS = {**settings.APPWS, "MAX_DEPTH": 10**6}
    comm = await connect(login=("notes", "notes-secret"))
    await comm.send_to(text_data=NESTED_FAR_TOO_DEEP)
    reply = await comm.receive_json_from()
    assert reply["error"] == "not-json" and "nests too deeply to parse" in reply["errorText"]
    await assert_still_serves(comm)


async def test_binary_frame(connect):
    comm = await connect()
    await comm.send_to(bytes_data=b'{"mt":"AppChallenge"}')
    reply = await comm.receive_json_from()
    assert reply["mt"] == "Error" and reply["error"] == "binary"
    await assert_still_serves(comm)


async def test_oversized_frame_default_limit(connect):
    comm = await connect(login=("notes", "notes-secret"))
    frame = json.dumps({"mt": "Echo", "pad": "x" * DEFAULT_MAX_MESSAGE_BYTES})
    await comm.send_to(text_data=frame)
    reply = await comm.receive_json_from()
    assert reply["error"] == "too-large"
    await assert_still_serves(comm)


async def test_limit_is_a_setting_counted_in_utf8_bytes(connect, settings):
    settings.APPWS = {**settings.APPWS, "MAX_MESSAGE_BYTES": 100}
    comm = await connect()
    # 60 characters, 120 bytes.
    await comm.send_to(text_data=json.dumps({"mt": "Echo", "p": "é" * 60}, ensure_ascii=False))
    assert (await comm.receive_json_from())["error"] == "too-large"
    await assert_still_serves(comm)


async def test_null_src_and_api_count_as_absent(connect):
    comm = await connect()
    reply = await comm.request({"mt": "AppChallenge", "src": None, "api": None})
    assert reply["mt"] == "AppChallengeResult" and "src" not in reply

"""The badge feature's parts without a session: its calls table and its queue."""

from __future__ import annotations

import asyncio
import logging

import pytest

from appws.pbx.badges import frames
from appws.pbx.badges.calls import BadgeCalls
from appws.pbx.badges.feature import _Live


def test_calls_by_id_and_by_user_and_the_limit() -> None:
    calls = BadgeCalls(limit=2)
    first = calls.add(-1, "alice")
    calls.add(-2, "alice")
    assert calls.full() and len(calls) == 2
    assert [c.call for c in calls.of_user("alice")] == [-1, -2]
    assert calls.due(first, 3) and not calls.due(first, 3) and calls.due(first, 0)
    again = calls.add(-1, "bob")  # the PBX reused the id: a new call, sent nothing yet
    assert again.sent is None and [c.call for c in calls.of_user("alice")] == [-2]
    assert calls.forget(-2) is not None and calls.forget(-2) is None
    assert calls.of_user("alice") == [] and len(calls) == 1


def test_a_setup_is_read_defensively() -> None:
    call = {"api": "PbxSignal", "mt": "Signaling", "call": True, "sig": {"type": "setup"}}
    assert frames.call_id(call) is None  # a bool is no call id
    assert frames.signal_type({"sig": "setup"}) is None
    setup = frames.read_setup({"sig": {"type": "setup", "cg": "alice", "cd": {"sip": ""}}}, -1)
    assert setup == frames.Setup(-1, None, None, False)


async def test_a_full_queue_drops_with_one_warning_per_overflow(
    caplog: pytest.LogCaptureFixture,
) -> None:
    live = _Live("app", "obj", "obj@pbx", BadgeCalls(1), asyncio.Queue(maxsize=1))
    with caplog.at_level(logging.WARNING, logger="appws"):
        for _ in range(3):
            live.put("signal", {})
        live.queue.get_nowait()
        live.put("signal", {})  # room again
        live.put("signal", {})  # a new overflow
    warnings = [r for r in caplog.records if "MAX_QUEUED_MESSAGES" in r.getMessage()]
    assert len(warnings) == 2 and live.queue.qsize() == 1

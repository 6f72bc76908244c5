"""The queue of a replication's live changes: the last change per user, in bounded memory."""

from __future__ import annotations

import asyncio

from appws.pbx.users.live import LiveQueue


def change(mt: str, guid: object, cn: str = "") -> dict[str, object]:
    return {"api": "PbxTableUsers", "mt": mt, "columns": {"guid": guid, "cn": cn}}


async def test_only_the_last_change_of_a_user_waits_and_it_moves_to_the_end() -> None:
    queue = LiveQueue(limit=10)
    queue.push(change("ReplicateAdd", "A" * 32, "first"))
    queue.push(change("ReplicateAdd", "b" * 32))
    queue.push(change("ReplicateUpdate", "a" * 32, "second"))  # the same user, any case
    assert len(queue) == 2
    taken = await queue.take(10)
    assert [(m["mt"], m["columns"]["cn"]) for m in taken] == [
        ("ReplicateAdd", ""),
        ("ReplicateUpdate", "second"),
    ]


async def test_take_returns_at_most_limit_oldest_first() -> None:
    queue = LiveQueue(limit=10)
    for n in range(5):
        queue.push(change("ReplicateDel", f"{n:032x}"))
    assert [m["columns"]["guid"] for m in await queue.take(2)] == [f"{n:032x}" for n in (0, 1)]
    assert len(queue) == 3


async def test_changes_without_a_guid_are_kept_each() -> None:
    queue = LiveQueue(limit=10)
    queue.push(change("ReplicateAdd", None))
    queue.push(change("ReplicateAdd", 7))
    queue.push({"api": "PbxTableUsers", "mt": "ReplicateDel", "columns": "not an object"})
    assert len(queue) == 3  # the replication skips and counts them


async def test_beyond_the_limit_it_keeps_nothing_and_says_so() -> None:
    queue = LiveQueue(limit=2)
    queue.push(change("ReplicateAdd", "a" * 32))
    queue.push(change("ReplicateAdd", "b" * 32))
    queue.push(change("ReplicateUpdate", "b" * 32))  # a user already waiting: no growth
    assert not queue.overflowed
    queue.push(change("ReplicateAdd", "c" * 32))
    assert queue.overflowed and len(queue) == 1
    assert await asyncio.wait_for(queue.take(10), 1) == []
    queue.restart()
    assert not queue.overflowed and len(queue) == 0

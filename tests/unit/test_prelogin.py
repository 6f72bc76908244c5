"""The byte budget that connections not logged in share, on a simulated clock."""

from __future__ import annotations

import asyncio

import pytest

from appws.server import prelogin


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """A monotonic clock that moves only when the budget sleeps (by exactly that long)."""
    now = [100.0]
    monkeypatch.setattr(prelogin.time, "monotonic", lambda: now[0])
    real_sleep = asyncio.sleep

    async def sleep(seconds: float) -> None:
        now[0] += seconds
        await real_sleep(0)

    monkeypatch.setattr(prelogin.asyncio, "sleep", sleep)
    return now


async def test_a_burst_passes_without_waiting(clock: list[float]) -> None:
    budget = prelogin.LoginBudget(rate=1000, burst=4000)
    for _ in range(4):
        await budget.spend(1000)
    assert clock[0] == 100.0


async def test_beyond_the_burst_a_frame_waits_exactly_for_its_bytes(clock: list[float]) -> None:
    budget = prelogin.LoginBudget(rate=1000, burst=4000)
    await budget.spend(4000)
    await budget.spend(500)
    assert clock[0] == pytest.approx(100.5)


async def test_a_frame_larger_than_the_burst_costs_the_whole_bucket(clock: list[float]) -> None:
    budget = prelogin.LoginBudget(rate=1000, burst=4000)
    await budget.spend(10**6)
    assert clock[0] == 100.0
    await budget.spend(10**6)
    assert clock[0] == pytest.approx(104.0)


async def test_waiting_frames_are_served_in_arrival_order(clock: list[float]) -> None:
    budget = prelogin.LoginBudget(rate=1000, burst=1000)
    await budget.spend(1000)
    order: list[str] = []

    async def frame(name: str, size: int) -> None:
        await budget.spend(size)
        order.append(name)

    await asyncio.gather(frame("big", 1000), frame("small", 10), frame("second big", 1000))
    assert order == ["big", "small", "second big"]


async def test_each_event_loop_has_its_budget() -> None:
    first = prelogin.budget(1000, 4000)
    assert prelogin.budget(1000, 4000) is first
    assert prelogin.budget(2000, 4000) is not first  # settings changed: a new budget


async def test_one_source_has_one_frame_in_the_queue_at_a_time(clock: list[float]) -> None:
    budget = prelogin.LoginBudget(rate=1000, burst=1000)
    await budget.spend(1000, "mallory")
    order: list[str] = []

    async def frame(name: str, source: str) -> None:
        await budget.spend(1000, source)
        order.append(name)

    await asyncio.gather(
        frame("mallory 1", "mallory"),
        frame("mallory 2", "mallory"),
        frame("mallory 3", "mallory"),
        frame("alice", "alice"),
    )
    # Alice waited for one of mallory's frames, not for all three.
    assert order == ["mallory 1", "alice", "mallory 2", "mallory 3"]
    assert budget._sources == {}  # nothing kept for sources that left

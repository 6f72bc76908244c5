"""What a server process reports about itself: tasks, threads and resident memory."""

from __future__ import annotations

import asyncio
import gc
import threading
from collections import Counter
from typing import Any


def rss_kib(pid: int | str = "self") -> int:
    """Resident set size of process ``pid`` in KiB (``VmRSS`` of /proc/<pid>/status)."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for process {pid}")


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of process ``pid`` and all its threads, in seconds."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    import os

    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def process_stats(collect: bool = True, detail: bool = False) -> dict[str, Any]:
    """Tasks on the running loop, threads and RSS of this process (after a gc pass).

    With ``detail``, also how many tasks wait where: ``{"coroutine @ file:line": n}``.
    """
    if collect:
        gc.collect()
    tasks = asyncio.all_tasks()
    stats: dict[str, Any] = {
        "tasks": len(tasks),
        "threads": threading.active_count(),
        "rss_kib": rss_kib(),
    }
    if detail:
        stats["task_detail"] = dict(Counter(_where(task) for task in tasks).most_common(20))
    return stats


def _where(task: asyncio.Task[Any]) -> str:
    """The coroutine of ``task`` and the innermost line it is suspended at."""
    coro: Any = task.get_coro()
    name = getattr(coro, "__qualname__", repr(coro))
    frame = None
    while coro is not None:
        frame = getattr(coro, "cr_frame", None) or frame
        coro = getattr(coro, "cr_await", None)
    if frame is None:
        return name
    return f"{name} @ {frame.f_code.co_filename.rsplit('/', 2)[-1]}:{frame.f_lineno}"

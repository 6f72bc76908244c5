"""Tasks a session owns: they run beside its handlers and end with it.

The ``pbx_connected`` hooks and the requests other processes send for the session's
peer run as such tasks, so that neither waits for, nor holds up, the handler queue.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

logger = logging.getLogger("appws")


class SessionTasks:
    """Start tasks for one session; cancel the ones still running when it ends."""

    __slots__ = ("_ended", "_owner", "_tasks")

    def __init__(self, owner: str) -> None:
        self._owner = owner  # the service's class name, for log lines
        self._tasks: set[asyncio.Task[None]] | None = None  # most sessions never start one
        self._ended = False

    def __len__(self) -> int:
        return 0 if self._tasks is None else len(self._tasks)

    def spawn(self, work: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None] | None:
        """Run ``work`` as a task of the session; None (``work`` closed) once it ended."""
        if self._ended:
            work.close()
            return None
        task = asyncio.ensure_future(work)
        if self._tasks is None:
            self._tasks = set()
        self._tasks.add(task)
        task.add_done_callback(lambda done: self._done(done, name))
        return task

    def _done(self, task: asyncio.Task[None], name: str) -> None:
        if self._tasks is not None:
            self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error(
                "%s: session task %r failed",
                self._owner,
                name,
                exc_info=task.exception(),
            )

    def cancel(self) -> None:
        """The session ended: cancel every task of it but the one calling (it is ending it)."""
        self._ended = True
        current = asyncio.current_task()
        for task in list(self._tasks or ()):
            if task is not current:
                task.cancel()

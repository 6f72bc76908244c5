"""A graceful stop: on SIGTERM or SIGINT, end every session of the process, then exit.

The consumers of this process register here while they run. The first one to
run puts a handler in front of the server's own SIGTERM and SIGINT handlers
(daphne's Twisted reactor and uvicorn both install Python-level ones before
they serve). On a signal that handler ends every session with
``CloseCode.SERVICE_RESTART`` (their sockets get a close frame, their groups
are left), deletes the process's live-session rows in one statement, all
within ``SHUTDOWN_TIMEOUT``, and then calls the server's handler, which stops
the server as it always did. A second SIGINT stops at once.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any, Protocol

from appws import live_sessions
from appws.conf import get_settings
from appws.protocol import CloseCode
from appws.server.connection import ConnectionState, LogLine

__all__ = ["register", "stop_all", "stopping", "unregister"]

logger = logging.getLogger("appws")

SIGNALS = (signal.SIGTERM, signal.SIGINT)
#: What the close frame says, beside its code.
REASON = "server restarting: reconnect"
#: Sessions ended at the same time. Each leaves its groups through the channel
#: layer's connection pool: thousands at once exhaust it (channels_redis then
#: fails the group_discard, and the dead channel stays in the group).
CONCURRENT_ENDS = 32


class Endable(Protocol):
    """A running consumer, as the stop sees it."""

    @property
    def state(self) -> ConnectionState: ...

    async def end(
        self, code: int | None, reason: str | None = None, *, log: LogLine | None = None
    ) -> None: ...


Handler = Callable[[int, FrameType | None], Any] | int | None


class _Running:
    """The consumers running in this process, and the signal handlers put in front."""

    def __init__(self) -> None:
        # Each running consumer and the task that runs it. Strong references: the
        # task holds the consumer anyway, and release() takes it out.
        self.consumers: dict[Endable, asyncio.Task[Any] | None] = {}
        self.stopping = False
        self.installed = False
        self.requested = False  # a signal came; the stop may not have begun yet
        self.originals: dict[int, Handler] = {}
        self.task: asyncio.Task[None] | None = None


_running = _Running()


def register(consumer: Endable) -> None:
    """Count ``consumer`` (run by the current task) as running; the first one installs
    the signal handlers."""
    _running.consumers[consumer] = asyncio.current_task()
    if not _running.installed:
        _install()


def unregister(consumer: Endable) -> None:
    """``consumer`` has released what it held: a stop need not end it."""
    _running.consumers.pop(consumer, None)


def stopping() -> bool:
    """True once a stop has begun: a session that opens now is ended at once."""
    return _running.stopping


def _install() -> None:
    _running.installed = True
    # Signal handlers can be set from the main thread only: a server that runs
    # its loop elsewhere (runserver's autoreloader) keeps its own behaviour.
    if threading.current_thread() is not threading.main_thread():
        return
    loop = asyncio.get_running_loop()
    for signum in SIGNALS:
        original = signal.getsignal(signum)
        if original in (signal.SIG_IGN, None):
            continue  # the server ignores it, or it was set outside Python
        _running.originals[signum] = original
        signal.signal(signum, _handler_for(loop))


def _handler_for(loop: asyncio.AbstractEventLoop) -> Callable[[int, FrameType | None], None]:
    def on_signal(signum: int, frame: FrameType | None) -> None:
        if _running.requested or not loop.is_running():
            # A second signal while stopping, or no loop left to stop on (the
            # server has ended it): do what the server does, now.
            _chain(signum, frame)
            return
        _running.requested = True
        # Runs between two bytecodes of the loop's thread: only schedule here.
        loop.call_soon_threadsafe(_begin, signum)

    return on_signal


def _begin(signum: int) -> None:
    if _running.task is None:
        _running.task = asyncio.ensure_future(_stop_then_chain(signum))


async def _stop_then_chain(signum: int) -> None:
    try:
        await stop_all(get_settings().shutdown_timeout)
    except Exception:  # the server must stop whatever went wrong here
        logger.exception("appws could not end every session before stopping")
    finally:
        _chain(signum, None)


def _chain(signum: int, frame: FrameType | None) -> None:
    original = _running.originals.get(signum, signal.SIG_DFL)
    if callable(original):
        original(signum, frame)
    else:  # SIG_DFL: what the signal would have done without us
        signal.signal(signum, signal.SIG_DFL)
        signal.raise_signal(signum)


async def stop_all(timeout: float) -> None:
    """End every running session (``SERVICE_RESTART``) and delete the process's rows.

    Sessions get ``timeout`` seconds to close; the rows are deleted in one
    statement after that, whether they all did or not. From now on a session
    that opens is ended at once.
    """
    _running.stopping = True
    deadline = asyncio.get_running_loop().time() + timeout
    live_sessions.stop_tracking()
    # Not yet accepted: their websocket_connect sees stopping() and ends them.
    running = dict(_running.consumers)
    consumers = [c for c in running if c.state is not ConnectionState.CONNECTING]
    logger.info(
        "server stopping: ending %d session(s) with close code %d (SHUTDOWN_TIMEOUT %g s)",
        len(consumers),
        CloseCode.SERVICE_RESTART,
        timeout,
    )
    slots = asyncio.Semaphore(CONCURRENT_ENDS)

    async def end_one(consumer: Endable) -> None:
        async with slots:
            await end_for_restart(consumer)

    tasks = [asyncio.ensure_future(end_one(consumer)) for consumer in consumers]
    if tasks:
        _done, pending = await asyncio.wait(tasks, timeout=timeout)
        if pending:
            logger.warning(
                "%d session(s) did not end within SHUTDOWN_TIMEOUT (%g s); "
                "their groups expire in the channel layer",
                len(pending),
                timeout,
            )
    removed = await asyncio.wait_for(live_sessions.end_process(), timeout)
    logger.info("server stopping: removed %d live-session row(s)", removed)
    # An ended consumer returns once the server hands it the disconnect, that is once
    # the client answered the close frame: until then the frame may still sit in the
    # server's buffers, which a stopping server drops. Wait for that, within the bound.
    answering = [task for c in consumers if (task := running[c]) is not None and not task.done()]
    remaining = deadline - asyncio.get_running_loop().time()
    if answering and remaining > 0:
        await asyncio.wait(answering, timeout=remaining)
    # Whoever has not answered is cancelled: uvicorn would wait for every one of
    # them before it exits (daphne cancels them itself).
    for consumer in consumers:
        task = running[consumer]
        if consumer.state is ConnectionState.CLOSED and task is not None and not task.done():
            task.cancel()


async def end_for_restart(consumer: Endable) -> None:
    """End one session because this process stops: the client should reconnect."""
    # One summary line says why; a line per session would flood the log.
    log = LogLine(logger, logging.DEBUG, "closing a session: the server is stopping")
    await consumer.end(CloseCode.SERVICE_RESTART, REASON, log=log)

"""What crossed a FakePbx's socket, in order, and waiting for a frame to arrive."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["Frame", "FrameLog", "Recorder", "decode"]

Direction = Literal["sent", "received"]


def decode(text: str) -> dict[str, Any] | None:
    """The JSON object ``text`` holds, or None when it holds none."""
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


@dataclass(frozen=True)
class Frame:
    """One text frame: ``sent`` by the FakePbx or ``received`` from the service.

    ``index`` is its place in :attr:`FakePbx.frames`; ``connection`` counts the
    FakePbx's connections from 1 (a reopen starts the next one). ``message`` is the
    decoded JSON object, None when the frame was not one.
    """

    index: int
    connection: int
    direction: Direction
    text: str
    message: dict[str, Any] | None

    @property
    def mt(self) -> Any:
        return None if self.message is None else self.message.get("mt")

    @property
    def api(self) -> Any:
        return None if self.message is None else self.message.get("api")

    def matches(self, **fields: Any) -> bool:
        """Whether every given field of the message equals the given value."""
        message = self.message
        return message is not None and all(
            key in message and message[key] == value for key, value in fields.items()
        )


Predicate = Callable[[Frame], bool]


@dataclass
class _Waiter:
    predicate: Predicate
    since: int
    future: asyncio.Future[Frame]


@dataclass
class FrameLog:
    """Every frame in both directions, and the tasks waiting for one."""

    frames: list[Frame] = field(default_factory=list)
    listener: Callable[[Frame], None] | None = None
    _waiters: list[_Waiter] = field(default_factory=list)

    def add(self, connection: int, direction: Direction, text: str) -> Frame:
        frame = Frame(len(self.frames), connection, direction, text, decode(text))
        self.frames.append(frame)
        if self.listener is not None:
            self.listener(frame)
        for waiter in list(self._waiters):
            if frame.index >= waiter.since and waiter.predicate(frame):
                self._waiters.remove(waiter)
                if not waiter.future.done():
                    waiter.future.set_result(frame)
        return frame

    async def wait_for(self, predicate: Predicate, *, since: int, timeout: float) -> Frame:
        for frame in self.frames[since:]:
            if predicate(frame):
                return frame
        waiter = _Waiter(predicate, since, asyncio.get_running_loop().create_future())
        self._waiters.append(waiter)
        try:
            return await asyncio.wait_for(waiter.future, timeout)
        except asyncio.TimeoutError:
            last = "; ".join(f"{f.direction} {f.text[:120]}" for f in self.frames[-5:])
            raise TimeoutError(
                f"no matching frame within {timeout:g} s ({len(self.frames)} frames so far; "
                f"the last: {last or 'none'})"
            ) from None
        finally:
            if waiter in self._waiters:
                self._waiters.remove(waiter)


class Recorder:
    """Looking at the frames of :attr:`log` and waiting for them (FakePbx's part)."""

    log: FrameLog
    timeout: float

    @property
    def frames(self) -> list[Frame]:
        """Every frame of every connection, both directions, in order."""
        return self.log.frames

    def mark(self) -> int:
        """Where the next frame will be: pass it as ``since`` to wait for later ones only."""
        return len(self.log.frames)

    def received(self, **fields: Any) -> list[dict[str, Any]]:
        """The messages the service sent whose fields equal ``fields``."""
        return [f.message for f in self._matching("received", fields) if f.message is not None]

    def sent(self, **fields: Any) -> list[dict[str, Any]]:
        """The messages the FakePbx sent whose fields equal ``fields``."""
        return [f.message for f in self._matching("sent", fields) if f.message is not None]

    def _matching(self, direction: str, fields: Mapping[str, Any]) -> list[Frame]:
        return [f for f in self.log.frames if f.direction == direction and f.matches(**fields)]

    async def wait_for(
        self,
        predicate: Callable[[Frame], bool] | None = None,
        *,
        direction: str = "received",
        since: int = 0,
        timeout: float | None = None,
        **fields: Any,
    ) -> Frame:
        """The first frame from ``since`` on in ``direction`` whose message has ``fields``
        and for which ``predicate`` holds; waits for it up to ``timeout`` (TimeoutError)."""

        def wanted(frame: Frame) -> bool:
            return (
                frame.direction == direction
                and (not fields or frame.matches(**fields))
                and (predicate is None or predicate(frame))
            )

        return await self.log.wait_for(wanted, since=since, timeout=timeout or self.timeout)

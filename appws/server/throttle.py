"""Throttle failed logins per client address (IPv6: per /64), in Django's cache.

A login *reserves* a slot before its digest is checked. A wrong digest keeps
its slot, as a counted failure; a right one gives it back. The slots of a
window are counted with the cache's atomic ``add``/``incr``, so however many
logins arrive at once, on one process or on several sharing the cache, at most
``LOGIN_FAILURE_LIMIT`` digests per ``LOGIN_FAILURE_WINDOW`` are checked and
found wrong. A login that finds every slot taken by logins still being checked
waits for one (up to ``LOGIN_TIMEOUT``): a crowd of right logins from one
address (many users behind one NAT) all get through, a few at a time.

Each process also counts the slots it holds per address (never asking the cache
for more than the limit), and its waiting logins sleep until one of its own
slots is given back; slots given back by other processes are noticed by
retrying with a bounded backoff (not needed with a per-process LocMemCache).

Long because the cache's counters, this process's share and the waiting loop are
one piece of accounting: each step's correctness (cancellation, windows ending,
another process's slots) depends on the others, and the tests replace its cache
calls here.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import ipaddress
import logging
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from django.core.cache.backends.base import BaseCache
from django.core.cache.backends.locmem import LocMemCache

from appws.cache import call as cache_call
from appws.cache import process_cache
from appws.conf import get_settings
from appws.layer.outage import is_layer_outage

logger = logging.getLogger("appws.login")

_PREFIX = "appws:login:"
#: Retry delays, in seconds, for noticing slots given back by another process.
_FIRST_RETRY = 0.05
_LONGEST_RETRY = 1.0


class Throttled(Exception):
    """This address may not log in now; ``text`` says why and what to do."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text


class CacheUnavailable(Throttled):
    """The cache that counts failed logins cannot be reached: no login is checked now.

    Failing closed: without the count, guesses could not be limited.
    """


_UNAVAILABLE = (
    "logins cannot be checked for a moment (the cache that counts failed logins is "
    "unreachable): try again"
)


def throttle_key(address: str) -> str:
    """The unit a failure counts against: the IPv4 address, or the IPv6 /64 network.

    One IPv6 host is usually given a whole /64, so counting per address would
    let it try each of its 2**64 addresses in turn.
    """
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address  # not an IP (a UNIX socket's peer, "unknown"): as it is
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((int(ip) >> 64 << 64, 64)))
    return str(ip)


# -- the cache ------------------------------------------------------------------


def _cache() -> BaseCache:
    # Not caches["default"]: that is one backend, and pool, per connection's task.
    return process_cache()


async def _call(name: str, *args: Any) -> Any:
    return await cache_call(_cache(), name, *args)


@dataclass(frozen=True)
class _Window:
    """The cache keys of one address's current window."""

    key: str
    start: float

    @property
    def held(self) -> str:  # failures plus logins being checked, on every process
        return f"{self.key}:{self.start!r}:held"

    @property
    def failed(self) -> str:
        return f"{self.key}:{self.start!r}:failed"

    def seconds_left(self, length: float) -> float:
        return max(1.0, self.start + length - time.time())


async def _current_window(key: str, length: float) -> _Window:
    # The start time names the window's counters: a slot given back after its
    # window ended can never free a slot of the next one.
    start_key = f"{key}:start"
    while True:
        now = time.time()
        if await _call("add", start_key, now, length):
            return _Window(key, now)
        start = await _call("get", start_key)
        if start is not None:
            return _Window(key, float(start))


async def _increment(counter: str, timeout: float) -> int:
    """Add one to ``counter`` atomically (created at 1 when missing); the new value."""
    while True:
        if await _call("add", counter, 1, timeout):
            return 1
        try:
            return int(await _call("incr", counter))
        except ValueError:  # expired between add and incr: add it again
            continue


async def _decrement(counter: str) -> None:
    with contextlib.suppress(ValueError):  # the window ended: nothing to give back
        await _call("decr", counter)


# -- this process's share ----------------------------------------------------------


@dataclass
class _Local:
    """What this process knows of one address: its held slots, and who waits."""

    held: int = 0
    waiting: int = 0
    #: Bumped on every slot given back here: a login that saw no free slot
    #: retries at once if it changed meanwhile, else waits to be woken.
    version: int = 0
    sleepers: deque[asyncio.Future[None]] = field(default_factory=deque)

    def wake(self, *, everyone: bool = False) -> None:
        self.version += 1
        while self.sleepers:
            sleeper = self.sleepers.popleft()
            if not sleeper.done():
                sleeper.set_result(None)
                if not everyone:
                    return


_locals: dict[str, _Local] = {}


def _local(key: str) -> _Local:
    entry = _locals.get(key)
    if entry is None:
        entry = _locals[key] = _Local()
    return entry


def _forget_if_idle(key: str, local: _Local) -> None:
    if local.held == 0 and local.waiting == 0 and _locals.get(key) is local:
        del _locals[key]


# -- slots --------------------------------------------------------------------------


class Slot:
    """A reserved chance to check one digest: call :meth:`failed` or :meth:`release`."""

    def __init__(self, key: str, window: _Window, local: _Local) -> None:
        self._key = key
        self._window = window
        self._local = local
        self._done = False

    def _finish(self) -> bool:
        if self._done:
            return False
        self._done = True
        self._local.held -= 1  # first, and synchronously: right even when cancelled
        _forget_if_idle(self._key, self._local)
        return True

    async def release(self) -> None:
        """Give the slot back without counting a failure (the login succeeded, or
        ended before its digest was judged). Does nothing after :meth:`failed`."""
        if self._finish():
            try:
                await _decrement(self._window.held)
            except Exception as error:
                # The cache's count ends with its window; this process's is right already.
                if not is_layer_outage(error):
                    raise
            finally:
                self._local.wake()

    async def failed(self) -> bool:
        """Count a failure in the slot's window; True when the address is now blocked."""
        if not self._finish():
            return False
        length = get_settings().login_failure_window
        try:
            failures = await _increment(self._window.failed, self._window.seconds_left(length))
        except Exception as error:
            if not is_layer_outage(error):
                raise
            logger.warning("a failed login went uncounted: the cache is unreachable")
            return False
        blocked = failures >= get_settings().login_failure_limit
        if blocked:  # the waiters are refused now rather than at their deadline
            self._local.wake(everyone=True)
        return blocked


async def reserve(address: str, timeout: float | None = None) -> Slot:
    """Reserve a slot to check one login from ``address``, waiting up to ``timeout`` s.

    ``timeout`` defaults to ``LOGIN_TIMEOUT`` (the window when that is 0).
    Raises :class:`Throttled` when the window's failures reached the limit, or
    when no slot came free in time; :class:`CacheUnavailable` when the cache is
    unreachable.
    """
    try:
        return await _reserve(address, timeout)
    except Exception as error:
        if isinstance(error, Throttled) or not is_layer_outage(error):
            raise
        logger.warning("no login checked: the cache is unreachable (%s)", type(error).__name__)
        raise CacheUnavailable(_UNAVAILABLE) from error


async def _reserve(address: str, timeout: float | None) -> Slot:
    current = get_settings()
    limit = current.login_failure_limit
    length = current.login_failure_window
    if timeout is None:
        timeout = current.login_slot_timeout
    key = (
        _PREFIX
        + hashlib.blake2b(
            throttle_key(address).encode("utf-8", "surrogatepass"), digest_size=16
        ).hexdigest()
    )
    local = _local(key)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    # Only slots given back by other processes go unannounced: poll for those.
    retry: float | None = None if isinstance(_cache(), LocMemCache) else _FIRST_RETRY
    local.waiting += 1
    try:
        while True:
            seen = local.version
            window = await _current_window(key, length)
            failures = int(await _call("get", window.failed) or 0)
            if failures >= limit:
                raise Throttled(
                    "too many failed logins from this address: try again in "
                    f"{int(window.seconds_left(length))} s"
                )
            # This process never asks the cache for more slots than the limit.
            if local.held < limit:
                local.held += 1
                try:
                    held = await _increment(window.held, window.seconds_left(length))
                except BaseException:
                    # A cache error or a cancelled login: the slot was never ours. (If
                    # the cache counted it, that count ends with the window.)
                    local.held -= 1
                    raise
                if held <= limit:
                    return Slot(key, window, local)
                # Every slot is taken: give this one back. A slot freed here
                # meanwhile changed the version, and this login retries below.
                local.held -= 1
                await _decrement(window.held)
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise Throttled(
                    "too many logins at once from this address: none could be checked "
                    f"within {timeout:g} s, try again"
                )
            if local.version != seen:
                continue  # a slot was given back meanwhile
            sleeper = loop.create_future()
            local.sleepers.append(sleeper)
            try:
                await asyncio.wait_for(
                    sleeper, remaining if retry is None else min(retry, remaining)
                )
            except asyncio.TimeoutError:  # not the builtin TimeoutError on Python 3.10
                pass
            except BaseException:
                if sleeper.done() and not sleeper.cancelled():
                    local.wake()  # woken but leaving: the wake-up goes to the next one
                raise
            finally:
                with contextlib.suppress(ValueError):  # gone already when it was woken
                    local.sleepers.remove(sleeper)
            if retry is not None:
                retry = min(retry * 2, _LONGEST_RETRY)
    finally:
        local.waiting -= 1
        _forget_if_idle(key, local)

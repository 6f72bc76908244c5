"""What a frame passes before it is a message: counts, rate, the login budget, decoding.

Until a login succeeds the sender may know no password: it gets fewer messages,
a smaller frame limit, fewer containers per frame, and a share of one byte
budget with every other connection of the process that has not logged in.
"""

from __future__ import annotations

from typing import Any

from appws import protocol
from appws.conf import AppwsSettings
from appws.server import prelogin, throttle
from appws.server.limits import RateLimiter


class FrameGate:
    """One connection's gate for incoming frames."""

    __slots__ = (
        "_before_login",
        "_budget_burst",
        "_budget_rate",
        "_max_before_login",
        "_max_bytes",
        "_max_containers",
        "_max_depth",
        "_max_login_bytes",
        "_max_src",
        "_rate_burst",
        "rate",
        "rate_limited",
    )

    def __init__(self, options: AppwsSettings) -> None:
        self._max_bytes: int = options.max_message_bytes
        self._max_login_bytes = options.login_frame_limit
        self._max_containers: int = options.max_login_containers
        self._max_depth: int = options.max_depth
        self._max_src: int = options.max_src_length
        self._max_before_login: int = options.max_messages_before_login
        self._budget_rate: float = options.login_bytes_per_second
        self._budget_burst = options.login_budget_burst
        self._before_login = 0
        self._rate_burst: int = options.rate_burst
        #: The message rate limit; None: none (a PBX session, by default).
        self.rate: RateLimiter | None = RateLimiter(options.rate_limit, options.rate_burst)
        #: The last frame counted was over the rate: answer it with ``rate-limited``.
        self.rate_limited = False

    def count(self, logged_in: bool) -> str | None:
        """Count one frame; return why the connection must close, or None."""
        if not logged_in:
            self._before_login += 1
            if self._before_login > self._max_before_login:
                return "too many messages before login"
        self.rate_limited = self.rate is not None and not self.rate.allow()
        if self.rate_limited and self.rate is not None and self.rate.flooding:
            return "message flood"
        return None

    def limit_rate(self, rate: float | None) -> None:
        """From now on allow ``rate`` messages per second (None: any number).

        For a PBX session (``PBX_RATE_LIMIT``); the count before login is kept.
        """
        self.rate = None if rate is None else RateLimiter(rate, self._rate_burst)

    async def wait_for_budget(self, text: str, peer: str) -> None:
        """Before login: wait until the process's login budget has room for ``text``."""
        # A frame over the size limit is refused by its length alone: it costs no budget.
        if self._budget_rate and len(text) <= self._max_login_bytes:
            budget = prelogin.budget(self._budget_rate, self._budget_burst)
            await budget.spend(len(text), throttle.throttle_key(peer))

    def decode(self, text: str, logged_in: bool) -> dict[str, Any]:
        """The message in ``text``; :class:`appws.protocol.FrameError` when there is none."""
        return protocol.decode_frame(
            text,
            self._max_bytes if logged_in else self._max_login_bytes,
            max_depth=self._max_depth,
            max_src_length=self._max_src,
            max_containers=None if logged_in else self._max_containers,
            before_login=not logged_in,
        )

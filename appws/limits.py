"""Per-connection limits: message rate, and which browser origins may connect."""

from __future__ import annotations

import time
from collections.abc import Iterable
from urllib.parse import urlsplit

from django.conf import settings
from django.http.request import validate_host


class RateLimiter:
    """A token bucket: ``rate`` messages per second, bursts up to ``burst``."""

    __slots__ = ("burst", "rate", "refused_in_row", "tokens", "updated")

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = burst
        self.tokens = float(burst)
        self.updated = time.monotonic()
        self.refused_in_row = 0

    def allow(self) -> bool:
        """Take a token for one message; False when the bucket is empty."""
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= 1:
            self.tokens -= 1
            self.refused_in_row = 0
            return True
        self.refused_in_row += 1
        return False

    @property
    def flooding(self) -> bool:
        """More than a burst's worth of messages refused in a row: a flood, not a spike."""
        return self.refused_in_row > self.burst


def _allowed_hosts() -> list[str]:
    hosts = list(settings.ALLOWED_HOSTS)
    if settings.DEBUG and not hosts:
        # What Django itself accepts in development.
        hosts = [".localhost", "127.0.0.1", "[::1]"]
    return hosts


def origin_allowed(origin: str, extra_origins: Iterable[str]) -> bool:
    """Whether a browser connection from ``origin`` may open a socket.

    Accepted: an origin in ``extra_origins`` (or ``"*"`` there), or one whose
    host matches ``ALLOWED_HOSTS`` as Django matches Host headers.
    """
    extra = set(extra_origins)
    if "*" in extra or origin in extra:
        return True
    try:
        host = urlsplit(origin).hostname
    except ValueError:
        return False
    if not host:
        return False  # "null" (sandboxed frames, files) and malformed origins
    if ":" in host:  # an IPv6 literal, as ALLOWED_HOSTS writes it
        host = f"[{host}]"
    return validate_host(host, _allowed_hosts())

"""Per-connection limits: message rate, and which browser origins may connect."""

from __future__ import annotations

import time
from collections.abc import Iterable
from urllib.parse import urlsplit

from django.conf import settings
from django.http.request import validate_host


class RateLimiter:
    """A token bucket: ``rate`` messages per second, bursts up to ``burst``.

    Refused messages are forgiven at half the rate; more than ``burst`` of them
    outstanding is a flood (a client keeping above 1.5 times the rate), not a spike.
    """

    __slots__ = ("burst", "rate", "refused", "tokens", "updated")

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = burst
        self.tokens = float(burst)
        self.refused = 0.0
        self.updated = time.monotonic()

    def allow(self) -> bool:
        """Take a token for one message; False when the bucket is empty."""
        now = time.monotonic()
        elapsed = now - self.updated
        self.updated = now
        self.tokens = min(self.burst, self.tokens + elapsed * self.rate)
        self.refused = max(0.0, self.refused - elapsed * self.rate / 2)
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        self.refused += 1
        return False

    @property
    def flooding(self) -> bool:
        """More than a burst's worth of refused messages outstanding."""
        return self.refused > self.burst


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

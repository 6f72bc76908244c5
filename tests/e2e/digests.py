"""Test-only: count the login digests this process checks, for tests/e2e/urls.py.

Installed by tests/e2e/asgi.py, so that a test can tell how many digests a
real daphne actually checked, whatever its replies say.
"""

from __future__ import annotations

from typing import Any

from appws import protocol

counts = {"checked": 0, "wrong": 0}


def install() -> None:
    real = protocol.verify_login

    def counting(*args: Any, **kwargs: Any) -> bool:
        ok = real(*args, **kwargs)
        counts["checked"] += 1
        counts["wrong"] += not ok
        return ok

    protocol.verify_login = counting

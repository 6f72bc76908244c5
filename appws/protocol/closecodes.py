"""The WebSocket close codes appws's server sends, and what each tells a client to do.

Servers may only send 1000 or codes from 3000 up (daphne's WebSocket library,
autobahn, refuses the others, 1001 and 1012 included), so the codes for a client's
own behaviour mirror their HTTP or RFC 6455 cousins in 4xxx.
``appws.js`` and the Python client read the same numbers (a test checks them).
"""

from __future__ import annotations

from enum import IntEnum

__all__ = ["FINAL_CLOSE_CODES", "RESTART_CLOSE_CODES", "CloseCode"]


class CloseCode(IntEnum):
    """Why the server closed a session."""

    #: An administrator ended the session (admin action, ``appws_sessions``).
    ADMIN_DISCONNECT = 4000
    #: Too many messages, or too many before login (mirrors 1008).
    FLOOD = 4008
    #: The server process is stopping (a restart, a deploy): reconnect now (mirrors 1012).
    SERVICE_RESTART = 4012
    #: A newer connection of the same PBX (same domain, PBX and App object) replaced this one.
    PBX_REPLACED = 4409
    #: Handed more than its send budget (mirrors 1013 "try again later").
    SLOW_READER = 4013
    #: The login was refused, or the App's password changed since (mirrors 401).
    LOGIN_FAILED = 4401
    #: The App was disabled or removed (mirrors 403).
    APP_WITHDRAWN = 4403
    #: No login within ``LOGIN_TIMEOUT`` (mirrors 408).
    LOGIN_TIMEOUT = 4408
    #: Too many failed logins from the client's address (mirrors 429).
    THROTTLED = 4429
    #: More messages waited for their handler than ``MAX_QUEUED_MESSAGES`` (mirrors 503).
    OVERLOADED = 4503


#: Codes after which reconnecting would undo what the server decided.
FINAL_CLOSE_CODES = frozenset({CloseCode.ADMIN_DISCONNECT, CloseCode.APP_WITHDRAWN})

#: Codes after which a client reconnects at once (after a short jitter, not its backoff):
#: appws's own, and the RFC 6455 ones a proxy or another server sends when it stops.
RESTART_CLOSE_CODES = frozenset({1001, 1012, CloseCode.SERVICE_RESTART})

"""How a session reacts to what happens elsewhere: its App changed, an admin ended it.

Channels delivers these as channel-layer events (:mod:`appws.layer.events`); the
consumer's ``appws_app_changed`` and ``appws_disconnect`` hand them here.
"""

from __future__ import annotations

import logging

from appws import protocol
from appws.accounts import forget_app_now
from appws.protocol import CloseCode
from appws.server.connection import Connection, ConnectionState, LogLine

login_logger = logging.getLogger("appws.login")


async def app_changed(conn: Connection) -> None:
    """The session's App changed: take its new permissions, or end the session."""
    session = conn.session
    if session is None or conn.state is ConnectionState.CLOSED:
        return
    await forget_app_now(session.app)  # this process's cache may be local
    account = await conn.get_app(session.app)
    if account is None or not account.enabled:
        reason, code = "App disabled or removed", CloseCode.APP_WITHDRAWN
    elif protocol.session_key(session.challenge, account.password) != session.session_key:
        reason, code = "App password changed: log in again", CloseCode.LOGIN_FAILED
    else:
        session.permissions = account.permissions
        return
    log = LogLine(
        login_logger,
        logging.INFO,
        "ending session of App %r (sip %r): %r",
        session.app,
        session.sip,
        reason,
    )
    await conn.end(code, reason, log=log)


async def admin_disconnect(conn: Connection) -> None:
    """An administrator ended the session."""
    session = conn.session
    log = LogLine(
        login_logger,
        logging.INFO,
        "session of App %r (sip %r) disconnected by an administrator",
        session.app if session else None,
        session.sip if session else None,
    )
    await conn.end(CloseCode.ADMIN_DISCONNECT, "disconnected by an administrator", log=log)


async def pbx_replaced(conn: Connection) -> None:
    """A newer connection of the same PBX (domain, PBX name, App object) replaced this one."""
    session = conn.session
    pbx = session.pbx if session else None
    log = LogLine(
        login_logger,
        logging.INFO,
        "closing the older connection of PBX %r from %r: a newer one sent PbxInfo",
        str(pbx.identity) if pbx else None,
        conn.peer,
    )
    await conn.end(CloseCode.PBX_REPLACED, "replaced by a newer connection of this PBX", log=log)

"""The message types the protocol reserves, and how appws serves each.

:data:`RESERVED` is the one table of them: its key is the ``mt`` (without
``api``), its row says which function serves it and whether it may come before
a login. The handler registry refuses ``@mt`` for these names (:data:`RESERVED_MTS`).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from appws import protocol
from appws.exceptions import LoginFailed
from appws.protocol import CloseCode
from appws.protocol.quoting import quote
from appws.server import throttle
from appws.server.connection import Connection, ConnectionState, LogLine
from appws.server.login import check_login

login_logger = logging.getLogger("appws.login")

Serve = Callable[[Connection, dict[str, Any], str], Awaitable[None]]


@dataclass(frozen=True)
class Reserved:
    """A reserved message type: the function serving it, and when it may come."""

    serve: Serve
    #: Served before a login; the others answer ``not-logged-in`` until there is one.
    before_login: bool


# -- before a login --------------------------------------------------------------


async def app_challenge(conn: Connection, message: dict[str, Any], frame: str) -> None:
    """``AppChallenge``: a new challenge, the only one an ``AppLogin`` may use next."""
    conn.challenge = protocol.new_challenge()
    await conn.reply(message, {"challenge": conn.challenge})


async def app_login(conn: Connection, message: dict[str, Any], frame: str) -> None:
    """``AppLogin``: check it (throttled by address), then start the session."""
    if conn.session is not None:
        await conn.reply(
            message, {"ok": False, "errorText": "already logged in on this connection"}
        )
        return
    # Single use, success or not: a captured AppLogin can never be replayed.
    challenge, conn.challenge = conn.challenge, None
    try:
        # Before the digest is checked: at most LOGIN_FAILURE_LIMIT wrong
        # ones per window, however many logins arrive at once.
        slot = await throttle.reserve(conn.peer)
    except throttle.Throttled as refusal:
        await _refuse_login(conn, message, refusal.text, CloseCode.THROTTLED)
        return
    try:
        if conn.state is ConnectionState.CLOSED:  # timed out while waiting for the slot
            return
        session = await check_login(conn, message, challenge, frame)
    except LoginFailed as failure:
        if failure.wrong_digest:  # a guess of the password: the throttle counts those
            await slot.failed()
        await _refuse_login(conn, message, failure.text, CloseCode.LOGIN_FAILED)
        return
    finally:
        await slot.release()  # nothing after failed()
    login_logger.info(
        "AppLogin ok (app=%r sip=%r domain=%r from %r)",
        session.app,
        session.sip,
        session.domain,
        conn.peer,
    )
    if not await conn.start_session(session):
        return  # the login deadline passed while it was checked: the session is over
    await conn.reply(message, {"ok": True, "domain": session.instance_domain})
    await conn.logged_in()


async def _refuse_login(
    conn: Connection, message: Mapping[str, Any], text: str, code: CloseCode
) -> None:
    await conn.reply(message, {"ok": False, "errorText": text})
    log = LogLine(
        login_logger,
        logging.WARNING,
        "AppLogin refused: %r (app=%r sip=%r domain=%r from %r)",
        text,
        message.get("app"),
        message.get("sip"),
        message.get("domain"),
        conn.peer,
    )
    if conn.state is ConnectionState.CLOSED:
        log.emit()  # ended meanwhile (login deadline): the refusal is still worth its line
        return
    await conn.end(code, log=log)


async def check_build(conn: Connection, message: dict[str, Any], frame: str) -> None:
    """``CheckBuild``: the App page's URL with the current build, if it is not current."""
    url = message.get("url")
    if not isinstance(url, str):
        await conn.reply_error(message, "bad-request", "CheckBuild needs a string 'url'")
        return
    build = conn.get_build()
    try:
        new_url = protocol.check_build_url(url, build) if build else None
    except ValueError:  # urlsplit refuses e.g. "http://[" (an unclosed IPv6 literal)
        await conn.reply_error(message, "bad-request", "CheckBuild 'url' is not a URL")
        return
    await conn.reply(message, {"url": new_url} if new_url else {})


async def keep_alive(conn: Connection, message: dict[str, Any], frame: str) -> None:
    """``KeepAlive``: nothing, or a ``KeepAlive`` back when ``KEEPALIVE_ECHO`` is on."""
    if conn.options.keepalive_echo:
        await conn.reply(message, {}, mt="KeepAlive")


# -- after a login ----------------------------------------------------------------


async def app_info(conn: Connection, message: dict[str, Any], frame: str) -> None:
    """``AppInfo``: what the service tells about one of its Apps."""
    assert conn.session is not None
    app = message.get("app", conn.session.app)
    if not isinstance(app, str) or app not in conn.apps:
        await conn.reply_error(message, "unknown-app", "AppInfo names an App not served here")
        return
    payload = await conn.get_app_info(app)
    if app in conn.badge_apps:
        payload = with_presence(payload)
    await conn.reply(message, payload)


def with_presence(payload: Mapping[str, Any]) -> dict[str, Any]:
    """``payload`` with ``info.presence`` true: the App's icon shows a badge count.

    The PBX stores the AppInfo at the App object, and myApps subscribes to the
    badge of an App that says so (through the PBX's PbxSignal).
    """
    info = payload.get("info")
    return {**payload, "info": {**(info if isinstance(info, Mapping) else {}), "presence": True}}


async def pbx_info(conn: Connection, message: dict[str, Any], frame: str) -> None:
    """``PbxInfo``: a PBX session's PBX, who it is and its APIs; no reply.

    Only the PBX's own App object may send it (a login of kind ``PBX``): anyone else
    is refused and nothing changes.
    """
    session = conn.session
    assert session is not None
    if session.kind is not protocol.LoginKind.PBX:
        await conn.reply_error(
            message,
            "forbidden",
            f"PbxInfo is taken only from the PBX's own App object (a login whose "
            f"info.appobj is its sip); this session logged in as kind {session.kind.value}",
        )
        return
    try:
        pbx = protocol.PbxInfo.from_message(message, domain=session.domain, sip=session.sip)
    except ValueError as error:
        # Not answered: a PBX answers an error in turn (it never expects a reply here).
        login_logger.warning(
            "PbxInfo from %r (sip %r) ignored: %r", conn.peer, session.sip, str(error)
        )
        return
    session.pbx_info = {k: v for k, v in message.items() if k not in ("mt", "src")}
    await conn.start_pbx(pbx)


async def app_check_login(conn: Connection, message: dict[str, Any], frame: str) -> None:
    """``AppCheckLogin``: whether a digest fits another App's password (if this App may ask)."""
    session = conn.session
    assert session is not None
    app, domain, challenge, digest = (
        message.get(key) for key in ("app", "domain", "challenge", "digest")
    )
    if not (
        isinstance(app, str)
        and isinstance(domain, str)
        and isinstance(challenge, str)
        and isinstance(digest, str)
    ):
        await conn.reply_error(
            message, "bad-request", "AppCheckLogin needs string app, domain, challenge, digest"
        )
        return
    own = await conn.get_app(session.app)
    if own is None or app not in own.check_logins:
        await conn.reply_error(
            message,
            "forbidden",
            f"App {quote(session.app)} may not check the password of App {quote(app)}: "
            f"add {quote(app)} to the check logins of App {quote(session.app)} (admin), "
            f'or to APPWS["APPS"][{quote(session.app)}]["check_logins"]',
        )
        return
    account = await conn.get_app(app) if app in conn.apps else None
    if account is None:
        await conn.reply_error(
            message, "unknown-app", f"App {quote(app)} is not served or configured here"
        )
        return
    try:
        # The same failure count as AppLogin: a session is no way around it.
        slot = await throttle.reserve(conn.peer)
    except throttle.CacheUnavailable as refusal:
        # Nothing checked and nothing counted: the session did nothing wrong, and stays.
        await conn.reply(message, {"ok": False, "error": "unavailable", "errorText": refusal.text})
        return
    except throttle.Throttled as refusal:
        await conn.reply(message, {"ok": False, "error": "throttled", "errorText": refusal.text})
        await _end_check_logins(conn, refusal.text)
        return
    try:
        ok = protocol.verify_login(
            {"app": app, "domain": domain, "digest": digest}, challenge, account.password
        )
        blocked = False if ok else await slot.failed()
    finally:
        await slot.release()  # nothing after failed()
    await conn.reply(message, {"ok": ok})
    if blocked:
        await _end_check_logins(conn, "too many failed logins from this address")


async def _end_check_logins(conn: Connection, text: str) -> None:
    session = conn.session
    log = LogLine(
        login_logger,
        logging.WARNING,
        "AppCheckLogin: %r; closing the session of App %r (sip %r) from %r",
        text,
        session.app if session else None,
        session.sip if session else None,
        conn.peer,
    )
    await conn.end(CloseCode.THROTTLED, "too many failed logins", log=log)


#: Every message type the protocol reserves (without ``api``), by ``mt``.
RESERVED: Mapping[str, Reserved] = {
    "AppChallenge": Reserved(app_challenge, before_login=True),
    "AppLogin": Reserved(app_login, before_login=True),
    "CheckBuild": Reserved(check_build, before_login=True),
    "KeepAlive": Reserved(keep_alive, before_login=True),
    "AppInfo": Reserved(app_info, before_login=False),
    "PbxInfo": Reserved(pbx_info, before_login=False),
    "AppCheckLogin": Reserved(app_check_login, before_login=False),
}

#: The type of appws's own answer to a frame it cannot read: sent, never served.
ANSWER_TO_UNREADABLE = "Error"

#: Message types no ``@mt`` handler may take (without ``api``).
RESERVED_MTS = frozenset({*RESERVED, ANSWER_TO_UNREADABLE})

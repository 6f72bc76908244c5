"""Deciding an ``AppLogin``: which fields it may carry, the digest, the App, the user.

:func:`check_login` is the whole decision and raises :class:`LoginFailed` with
the text the client gets; the reserved ``AppLogin`` type around it handles the
throttle, the reply and the session's state.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from asgiref.sync import sync_to_async
from django.contrib.auth import get_user_model

from appws import protocol
from appws.accounts import instance_domain
from appws.exceptions import LoginFailed
from appws.protocol.quoting import quote
from appws.protocol.storable import has_nul
from appws.server.connection import Connection
from appws.server.session import Session

_STRING_LOGIN_FIELDS = (*protocol.LOGIN_FIELDS, "digest", "pbxObj")


def _is_utf8(value: str) -> bool:
    # A lone surrogate (from a \ud800 escape) is no text: databases refuse it.
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def check_fields(message: Mapping[str, Any]) -> None:
    """Refuse login fields of the wrong type, not text, or making the digest ambiguous."""
    for field in _STRING_LOGIN_FIELDS:
        value = message.get(field)
        if value is None:
            continue
        if not isinstance(value, str):
            raise LoginFailed(f"AppLogin field {field!r} must be a string")
        if not _is_utf8(value):
            raise LoginFailed(f"AppLogin field {field!r} is not valid Unicode text")
        if has_nul(value):
            # The session's row and the user look-up would fail on PostgreSQL.
            raise LoginFailed(f"AppLogin field {field!r} must not contain a NUL character")
    if message.get("info") is not None and not isinstance(message["info"], dict):
        raise LoginFailed("AppLogin field 'info' must be an object")
    ambiguous = protocol.ambiguous_field(message)
    if ambiguous is not None:
        held = protocol.forbidden_in(message, ambiguous)
        raise LoginFailed(
            f"AppLogin field {ambiguous!r} must not contain {held!r}: it would make the "
            "digest's field join ambiguous"
        )


async def check_login(
    conn: Connection, message: Mapping[str, Any], challenge: str | None, frame: str
) -> Session:
    """Return the session ``message`` logs in, or raise :class:`LoginFailed`."""
    if challenge is None:
        raise LoginFailed("no challenge: send AppChallenge before AppLogin")
    check_fields(message)
    app = message.get("app") or ""
    if app not in conn.apps:
        raise LoginFailed(f"App {quote(app)} is not served here")
    route_app = conn.route_app
    if route_app is not None and app != route_app:
        raise LoginFailed(f"App {quote(app)} is not served at this URL (only {route_app!r})")
    account = await conn.get_app(app)
    if account is None:
        raise LoginFailed(f"App {quote(app)} is not configured on this server")
    if not protocol.verify_login(message, challenge, account.password, frame_text=frame):
        raise LoginFailed("wrong digest: check the App's password", wrong_digest=True)
    if not account.enabled:
        raise LoginFailed(f"App {quote(app)} is disabled")
    session = Session(
        app=account.name,
        domain=message.get("domain") or "",
        sip=message.get("sip") or "",
        guid=message.get("guid") or "",
        dn=message.get("dn") or "",
        info=message.get("info"),
        pbx_obj=message.get("pbxObj"),
        instance_domain=instance_domain(account.domain, conn.host),
        kind=protocol.login_kind(message),
        permissions=account.permissions,
        pbx_rate_limit=account.pbx_rate_limit,
        session_key=protocol.session_key(challenge, account.password),
        challenge=challenge,
    )
    await map_user(conn, session)
    return session


async def map_user(conn: Connection, session: Session) -> None:
    """Find the session's Django user and check it may open the App (settings decide).

    A PBX's own App object (kind ``PBX``) maps to no user and needs no access.
    """
    options = conn.options
    if session.kind is protocol.LoginKind.PBX:
        return  # the App object itself: no Django user stands behind it
    if not (options.map_users or options.require_user_access):
        return
    if finds_user_later(conn, session):
        return  # start_session finds it, with the live-session row
    session.user = user = await conn.get_user(session)
    if options.require_user_access:
        access = f"appws.open_{session.app}"
        if user is None or not await sync_to_async(user.has_perm)(access):
            raise LoginFailed(f"user {quote(session.sip)} may not open App {quote(session.app)}")
    if options.require_user_permissions:
        granted: set[str] = (
            await sync_to_async(user.get_all_permissions)() if user is not None else set()
        )
        session.user_permissions = frozenset(granted)


def finds_user_later(conn: Connection, session: Session) -> bool:
    """Whether ``start_session`` finds the user instead of :func:`map_user`.

    So when only ``MAP_USERS`` asks for the user and the service keeps the
    default ``get_user``, which cannot refuse the login: the look-up then shares
    the live-session row's database hop and transaction (one ``SELECT`` for the
    logins written together).
    """
    options = conn.options
    return (
        session.kind is not protocol.LoginKind.PBX
        and options.map_users
        and not (options.require_user_access or options.require_user_permissions)
        and getattr(conn.get_user, "finds_by_sip", False)
    )


async def default_user(session: Session) -> Any:
    """The active Django user whose username is the login's ``sip``, or None."""
    if not session.sip:
        return None
    user_model = get_user_model()
    lookup = {user_model.USERNAME_FIELD: session.sip, "is_active": True}
    return await user_model._default_manager.filter(**lookup).afirst()

"""From a decoded message to its handler's reply: reserved types, the registry, permissions.

The order is the protocol's: a reserved type (without ``api``) is served by
:mod:`appws.server.reserved`; anything else needs a login, then a handler
registered for its ``(api, mt)``, then the handler's permission.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from channels.db import aclose_old_connections, database_sync_to_async
from channels.exceptions import StopConsumer

from appws.exceptions import AppwsError, SessionEnded
from appws.layer.outage import is_layer_outage
from appws.protocol import LoginKind
from appws.protocol.quoting import quote
from appws.server.connection import Connection
from appws.server.handlers import Handler
from appws.server.reserved import RESERVED

logger = logging.getLogger("appws")

Registry = Mapping[tuple[str | None, str], Handler]


async def route(
    conn: Connection,
    message: dict[str, Any],
    frame: str,
    handlers: Registry,
    apis: frozenset[str],
) -> None:
    """Serve ``message``: reserved type, else its handler, else an error reply."""
    mt: str = message["mt"]
    api: str | None = message.get("api")
    reserved = RESERVED.get(mt) if api is None else None
    if conn.session is None and (reserved is None or not reserved.before_login):
        await conn.reply_error(
            message, "not-logged-in", "log in first: send AppChallenge, then AppLogin"
        )
        return
    if reserved is not None:
        await reserved.serve(conn, message, frame)
        return
    handler = handlers.get((api, mt))
    if handler is None:
        if conn.session is not None and conn.session.kind is LoginKind.PBX:
            conn.note_dropped("unhandled", message)  # a PBX would answer an error in turn
            return
        if api is not None and api not in apis:
            await conn.reply_error(message, "unknown-api", f"this service has no api {quote(api)}")
        else:
            await conn.reply_error(
                message, "unknown-mt", f"this service does not handle mt {quote(mt)}"
            )
        return
    await run_handler(conn, handler, getattr(conn, handler.attr), message)


async def run_handler(
    conn: Connection,
    handler: Handler,
    method: Callable[[dict[str, Any]], Any],
    message: dict[str, Any],
) -> None:
    """Check ``handler``'s permission, call ``method``, and answer with what it gave."""
    session = conn.session
    assert session is not None
    owner = type(conn).__qualname__
    if not session.has_permission(handler.permission):
        who = (
            f"App {quote(session.app)}"
            if handler.permission not in session.permissions
            else f"user {quote(session.sip)}"
        )
        await conn.reply_error(
            message,
            "forbidden",
            f"{who} may not use {handler.mt}: it lacks the permission {handler.permission}",
            mt=handler.reply,
        )
        return
    try:
        if handler.is_async:
            if handler.db:
                await aclose_old_connections()
            result = await method(message)
        else:
            result = await database_sync_to_async(method)(message)
        if result is not None and not isinstance(result, Mapping):
            raise TypeError(
                f"handler {owner}.{handler.attr}() returned "
                f"{type(result).__name__}; return a dict or None"
            )
    except AppwsError as error:
        await conn.reply_error(message, error.code, error.text, mt=handler.reply)
        return
    except StopConsumer:
        raise
    except SessionEnded:
        return  # it awaited the peer, and the session ended: nobody to answer
    except Exception as error:
        if is_layer_outage(error):
            await conn.reply_error(
                message,
                "unavailable",
                "a service this handler needs is unreachable for a moment: try again",
                mt=handler.reply,
            )
            return
        logger.exception(
            "handler %s.%s() failed on mt=%r", type(conn).__qualname__, handler.attr, handler.mt
        )
        await _internal(conn, message, handler)
        return
    if result is not None:
        try:
            await conn.reply(message, result, mt=handler.reply if "mt" not in result else None)
        except (TypeError, ValueError):  # not JSON: a set, an object, inf, ...
            logger.exception(
                "handler %s.%s() returned a reply that is not JSON",
                type(conn).__qualname__,
                handler.attr,
            )
            await _internal(conn, message, handler)


def _internal(conn: Connection, message: Mapping[str, Any], handler: Handler) -> Awaitable[None]:
    return conn.reply_error(
        message, "internal", "the service failed to handle this message", mt=handler.reply
    )

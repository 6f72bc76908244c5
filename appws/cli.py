"""The ``appws`` command: call an App Service, listen to a subscription, compute a digest.

Exit codes: 0 success, 2 bad usage, 3 login refused, 4 the reply carried an ``error``,
5 connection failure or timeout (docs/client.md).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import getpass
import json
import logging
import os
import signal
import sys
from collections.abc import Sequence
from typing import Any

from appws import __version__
from appws.client import (
    AppwsClientError,
    Client,
    ConnectionLost,
    Credentials,
    LoginRefused,
    RemoteError,
    RequestTimeout,
    Resubscribed,
    Subscription,
    password_login,
)

__all__ = ["EXIT_CONNECTION", "EXIT_LOGIN_REFUSED", "EXIT_REMOTE_ERROR", "EXIT_USAGE", "main"]

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_LOGIN_REFUSED = 3
EXIT_REMOTE_ERROR = 4
EXIT_CONNECTION = 5


def _print_json(message: Any) -> None:
    print(json.dumps(message, ensure_ascii=False), flush=True)


def _complain(text: str) -> None:
    print(f"appws: {text}", file=sys.stderr, flush=True)


def _json_object(parser: argparse.ArgumentParser, text: str, what: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError as exc:
        parser.error(f"{what} is not valid JSON: {exc}")
    if not isinstance(value, dict):
        parser.error(f"{what} must be a JSON object")
    return value


def _message(parser: argparse.ArgumentParser, text: str, what: str) -> dict[str, Any]:
    message = _json_object(parser, text, what)
    if not isinstance(message.get("mt"), str) or not message["mt"]:
        parser.error(f'{what} needs a string "mt"')
    return message


def _password(parser: argparse.ArgumentParser, args: argparse.Namespace) -> str:
    if args.password_env is not None:
        password = os.environ.get(args.password_env)
        if not password:
            parser.error(f"environment variable {args.password_env} is not set or empty")
        return password
    if sys.stdin.isatty():
        password = getpass.getpass("App password: ")  # typed, not echoed
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    if not password:
        parser.error("--password-stdin: no password on standard input")
    return password


def _credentials(parser: argparse.ArgumentParser, args: argparse.Namespace) -> Credentials:
    info = None if args.info is None else _json_object(parser, args.info, "--info")
    return Credentials(sip=args.sip, guid=args.guid, dn=args.dn, info=info)


def _client(args: argparse.Namespace, password: str, credentials: Credentials) -> Client:
    return Client(
        args.url,
        args.app,
        password=password,
        domain=args.domain,
        credentials=credentials,
        cafile=args.cafile,
        request_timeout=args.timeout,
        connect_timeout=args.timeout,
        reconnect=getattr(args, "reconnect", False),
    )


async def _call(args: argparse.Namespace, password: str, credentials: Credentials) -> int:
    async with _client(args, password, credentials) as client:
        try:
            reply = await client.request(args.message, api=args.api)
        except RemoteError as exc:
            _print_json(exc.reply)
            raise
    _print_json(reply)
    return EXIT_OK


async def _listen_until_stopped(
    args: argparse.Namespace, password: str, credentials: Credentials
) -> int:
    async with _client(args, password, credentials) as client:
        sub = client.subscribe(args.message, api=args.api, unsubscribe=args.unsubscribe)
        try:
            await sub.start()
        except RemoteError as exc:
            _print_json(exc.reply)
            raise
        assert sub.ack is not None
        _print_json(sub.ack)
        async with sub:
            await _print_items(sub)
    return EXIT_OK  # the subscription ended without an error


async def _print_items(sub: Subscription) -> None:
    async for item in sub:
        if isinstance(item, Resubscribed):
            _complain("reconnected and subscribed again: indications may have been missed")
            _print_json(item.ack)
        else:
            _print_json(item)


async def _listen(args: argparse.Namespace, password: str, credentials: Credentials) -> int:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    handled: list[signal.Signals] = []
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):  # not on Windows
            loop.add_signal_handler(signum, stop.set)
            handled.append(signum)
    work = asyncio.create_task(_listen_until_stopped(args, password, credentials))
    stopper = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait({work, stopper}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for signum in handled:
            loop.remove_signal_handler(signum)
        stopper.cancel()
    if work.done():
        return work.result()
    work.cancel()  # interrupted: unsubscribe and close on the way out
    with contextlib.suppress(asyncio.CancelledError):
        await work
    return EXIT_OK


def _digest(args: argparse.Namespace, password: str, credentials: Credentials) -> int:
    fields = password_login(
        args.app, args.challenge, password, domain=args.domain, credentials=credentials
    )
    _print_json({"mt": "AppLogin", **fields})
    return EXIT_OK


def _add_login_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--app", required=True, help="the App name (AppLogin's app)")
    secret = parser.add_mutually_exclusive_group(required=True)
    secret.add_argument(
        "--password-env", metavar="VAR", help="read the App password from this variable"
    )
    secret.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the App password from the first line of standard input",
    )
    fields = parser.add_argument_group(
        "login fields", "default: the vendor's password login (sip=app, guid=0…0, dn=Admin)"
    )
    fields.add_argument("--domain", default="", help='AppLogin domain (default "")')
    fields.add_argument("--sip", help="AppLogin sip (default: the App name)")
    fields.add_argument("--guid", help="AppLogin guid (default: 32 zeros)")
    fields.add_argument("--dn", help='AppLogin dn (default "Admin")')
    fields.add_argument("--info", metavar="JSON", help="AppLogin info, a JSON object")


def _add_connection_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("url", help="WebSocket URL (ws://, wss://; http(s):// is converted)")
    parser.add_argument("message", help='the request, a JSON object with "mt"')
    parser.add_argument("--api", help='set the message\'s "api"')
    parser.add_argument(
        "--timeout", type=float, default=30.0, help="seconds for connecting and each reply"
    )
    parser.add_argument(
        "--cafile", help="trust the CA certificates in this PEM file (TLS always verifies)"
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``appws`` command."""
    parser = argparse.ArgumentParser(
        prog="appws",
        description="Talk AppWebsocket to an App Service or a PBX App object endpoint.",
        epilog="exit codes: 0 ok, 2 bad usage, 3 login refused, 4 error reply, "
        "5 connection failure or timeout",
    )
    parser.add_argument("--version", action="version", version=f"appws {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log what the client does")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    call = commands.add_parser("call", help="send one request, print the reply as JSON")
    _add_connection_options(call)
    _add_login_options(call)
    call.set_defaults(run=_call, parser=call)

    listen = commands.add_parser(
        "listen", help="subscribe, print the reply and every indication as JSON lines"
    )
    _add_connection_options(listen)
    _add_login_options(listen)
    listen.add_argument(
        "--unsubscribe", metavar="JSON", help="message to send (with the same src) on exit"
    )
    listen.add_argument(
        "--no-reconnect",
        dest="reconnect",
        action="store_false",
        help="exit (code 5) when the connection is lost instead of reconnecting",
    )
    listen.set_defaults(run=_listen, parser=listen)

    digest = commands.add_parser(
        "digest", help="print the AppLogin (digest included) a password login would send"
    )
    digest.add_argument("--challenge", required=True, help="the AppChallengeResult challenge")
    _add_login_options(digest)
    digest.set_defaults(run=None, parser=digest)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    args = build_parser().parse_args(argv)
    parser: argparse.ArgumentParser = args.parser  # usage errors name the subcommand
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="appws: %(message)s",
        stream=sys.stderr,
    )
    if getattr(args, "message", None) is not None:
        args.message = _message(parser, args.message, "the message")
    if getattr(args, "unsubscribe", None) is not None:
        args.unsubscribe = _message(parser, args.unsubscribe, "--unsubscribe")
    credentials = _credentials(parser, args)
    password = _password(parser, args)
    if args.run is None:
        return _digest(args, password, credentials)
    try:
        return int(asyncio.run(args.run(args, password, credentials)))
    except LoginRefused as exc:
        _complain(str(exc))
        return EXIT_LOGIN_REFUSED
    except RemoteError as exc:
        _complain(f"error reply: {exc}")
        return EXIT_REMOTE_ERROR
    except (ConnectionLost, RequestTimeout) as exc:
        _complain(str(exc))
        return EXIT_CONNECTION
    except AppwsClientError as exc:
        _complain(str(exc))
        return EXIT_FAILURE
    except KeyboardInterrupt:
        return 130

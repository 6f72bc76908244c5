"""Every logging call in appws/ quotes what it logs, so nobody can forge log lines.

A value a client chose (a ``sip``, an App name, a topic, a peer address behind a
proxy, a close reason) logged with ``%s`` writes its newlines and terminal escapes
into the log as they are. The rule this test holds every logging call to:

- the message is one string literal (no f-string, ``.format`` or ``%`` of its own:
  those would format the values before logging could quote them);
- each ``%r``/``%a`` placeholder is fine (``repr`` escapes control characters);
- a number placeholder (``%d``, ``%f``, ...) is fine: it can only print a number;
- a ``%s`` is allowed only for a string literal, a call of ``quote()`` (the one helper
  that quotes client text, ``appws/protocol/quoting.py``) or an expression in
  :data:`SERVER_MADE`;
- anything else (``%c``, ``%(name)s``, ``*`` widths, ``*args``) is refused.

Loggers are found by name: every ``logging.getLogger()`` result is bound to a name
ending in ``logger``, and a logging call is ``<...logger>.<level>(...)`` or
``logging.<level>(...)``.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "appws"

LEVELS = frozenset({"debug", "info", "warning", "error", "exception", "critical", "log"})

#: ``%s`` arguments written by the server, never by a client (expression: why).
SERVER_MADE = {
    "type(self).__qualname__": "the consumer's class name",
    "type(error).__name__": "an exception's class name",
    "handler.attr": "a handler method's name, from the class",
    "type(conn).__qualname__": "the consumer's class name",
    "self._owner": "the consumer's class name, handed to its subscriptions",
}

#: A session's closing line is built as ``LogLine(logger, level, message, *args)`` and
#: logged by ``end()``: checked here as a logging call of its own.
LOG_LINE = "LogLine"
#: The one logging call whose message is not a literal: it forwards a checked LogLine.
FORWARDER = (
    "server/connection.py",
    "self.logger.log(self.level, self.message, *self.args, stacklevel=3)",
)

QUOTING_HELPER = "quote"

_PLACEHOLDER = re.compile(
    r"%(?P<key>\([^)]*\))?[#0\- +]*(?P<width>\*|\d+)?(?:\.(?P<precision>\*|\d+))?"
    r"[hlL]?(?P<conv>.)",
    re.DOTALL,
)
_NUMBERS = frozenset("diouxXeEfFgG")
_REPRS = frozenset("ra")


def _is_logger(node: ast.expr) -> bool:
    if isinstance(node, ast.Name):
        return node.id == "logging" or node.id.endswith("logger")
    if isinstance(node, ast.Attribute):
        return node.attr.endswith("logger")
    if isinstance(node, ast.Call):  # logging.getLogger(...).info(...)
        return isinstance(node.func, ast.Attribute) and node.func.attr == "getLogger"
    return False


def _is_get_logger(node: ast.expr) -> bool:
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute | ast.Name)
        and (node.func.attr if isinstance(node.func, ast.Attribute) else node.func.id)
        == "getLogger"
    )


def _logging_calls(tree: ast.AST) -> Iterator[tuple[ast.Call, str]]:
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in LEVELS
            and _is_logger(node.func.value)
        ):
            yield node, node.func.attr
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id == LOG_LINE
        ):
            yield node, LOG_LINE


def _server_made(arg: ast.expr) -> bool:
    if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
        return True
    if (
        isinstance(arg, ast.Call)
        and isinstance(arg.func, ast.Name)
        and arg.func.id == QUOTING_HELPER
    ):
        return True
    return ast.unparse(arg) in SERVER_MADE


def problems_in_call(call: ast.Call, level: str) -> list[str]:
    """What is wrong with one logging call (empty: nothing)."""
    skipped = {"log": 1, LOG_LINE: 2}.get(level, 0)  # the logger and level before the message
    positional = list(call.args[skipped:])
    if not positional:
        return ["no message"]
    message, args = positional[0], positional[1:]
    if isinstance(message, ast.JoinedStr):
        return ["f-string message: pass the values as %-arguments, quoted with %r"]
    if not (isinstance(message, ast.Constant) and isinstance(message.value, str)):
        return [f"message {ast.unparse(message)} is not a string literal"]
    if any(isinstance(arg, ast.Starred) for arg in args):
        return ["*args: each argument must be checked against its placeholder"]
    found = []
    placeholders = [m for m in _PLACEHOLDER.finditer(message.value) if m["conv"] != "%"]
    if len(placeholders) != len(args):
        return [f"{len(placeholders)} placeholder(s) for {len(args)} argument(s)"]
    for match, arg in zip(placeholders, args, strict=True):
        shown = f"{match[0]!r} for {ast.unparse(arg)}"
        if match["key"] or match["width"] == "*" or match["precision"] == "*":
            found.append(f"{shown}: use plain positional placeholders")
        elif match["conv"] in _REPRS or match["conv"] in _NUMBERS:
            continue
        elif match["conv"] != "s":
            found.append(f"{shown}: only %r, %s and number placeholders")
        elif not _server_made(arg):
            found.append(
                f"{shown}: a value that may come from a client is logged unquoted; "
                f"use %r (or {QUOTING_HELPER}()), or add it to SERVER_MADE if no "
                "client can ever choose it"
            )
    return found


def problems_in_source(source: str, name: str = "<source>") -> list[str]:
    """``file:line: problem`` for every logging call in ``source`` that breaks the rule."""
    tree = ast.parse(source)
    found = []
    for call, level in _logging_calls(tree):
        if name.endswith(FORWARDER[0]) and ast.unparse(call) == FORWARDER[1]:
            continue
        found.extend(f"{name}:{call.lineno}: {p}" for p in problems_in_call(call, level))
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and _is_get_logger(node.value):
            for target in node.targets:
                label = ast.unparse(target)
                if not label.endswith("logger"):
                    found.append(
                        f"{name}:{node.lineno}: logger bound to {label!r}: name it *logger "
                        "so this test finds its calls"
                    )
    return found


def _modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def test_every_logging_call_in_appws_quotes_client_values() -> None:
    found = []
    for path in _modules():
        name = str(path.relative_to(ROOT))
        found.extend(problems_in_source(path.read_text(encoding="utf-8"), name))
    assert not found, "logging calls that can be forged:\n" + "\n".join(found)


def test_the_walk_sees_the_loggers_of_appws() -> None:
    # Guard against a test that passes because it looked at nothing.
    files = {
        str(path.relative_to(PACKAGE))
        for path in _modules()
        for _call in _logging_calls(ast.parse(path.read_text(encoding="utf-8")))
    }
    assert {
        "layer/capacity.py",
        "client/connection.py",
        "server/consumer.py",
        "server/reserved.py",
        "live_sessions.py",
        "http/issuer.py",
    } <= files


@pytest.mark.parametrize(
    "line",
    [
        'logger.info("session of %s", session.sip)',
        'login_logger.info("from %s", peer)',
        'self.logger.warning("lost %s", self.url)',
        'logging.getLogger("appws").error("%s", text)',
        'logging.info("%s", text)',
        'logger.log(logging.INFO, "%s", text)',
        'logger.info(f"session of {sip}")',
        'logger.info("session of {}".format(sip))',
        'logger.info("session of %s" % sip)',
        "logger.info(template, sip)",
        'logger.info("%s %s", *parts)',
        'logger.info("%(sip)s", {"sip": sip})',
        'logger.info("%c", code)',
        'logger.info("%*d", width, n)',
        'logger.info("%s and %r", a)',
        'log = logging.getLogger("appws")',
        'LogLine(logger, logging.INFO, "ending session of %s", sip)',
        'LogLine(login_logger, logging.WARNING, f"refused {sip}")',
        "self.logger.log(self.level, self.message, *self.args)",  # only in LogLine.emit
    ],
)
def test_refused(line: str) -> None:
    assert problems_in_source(line)


@pytest.mark.parametrize(
    "line",
    [
        'logger.info("session of %r from %r", session.sip, peer)',
        'logger.info("%.200r and %a", raw, text)',
        'logger.info("%d of %5.1f%%", count, share)',
        'logger.info("%s failed", type(self).__qualname__)',
        'logger.info("App %s", quote(app))',
        'logger.info("%s", "constant")',
        'logger.exception("heartbeat failed")',
        'logger.log(logging.INFO, "%r", sip)',
        'messages.warning(request, "%s" % name)',  # Django's messages: no log line
        'login_logger = logging.getLogger("appws.login")',
        'LogLine(login_logger, logging.INFO, "ending session of %r", sip)',
    ],
)
def test_accepted(line: str) -> None:
    assert problems_in_source(line) == []

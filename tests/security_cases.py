"""Every bad input appws is tested against, and the reply or effect it must get.

Each :class:`Case` says what a client sends (frames, binary data, login attempts,
changes made in the database meanwhile) and what must come back: replies
(patterns: these members with these values), then either a close code, a refused
handshake, or a connection that still answers. :func:`run_case` plays a case
through Channels' communicator against the test services (``tests/services.py``)
while a second, logged-in session looks on; :func:`check` compares.

``tests/integration/test_security_cases.py`` runs every case;
``tests/make_security_table.py`` runs them too and writes ``docs/security.md``
from this list, so the table says exactly what the tests assert.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

MiB = 1024 * 1024

NOTES = ("notes", "notes-secret")
NOTES_ADMIN = ("notes-admin", "admin-secret")
NOTES_ADMIN_PATH = "/apps/notes-admin"
DB_APP = "dbnotes"
DB_PASSWORD = "db-secret-Pw-1"
DB_PATH = f"/apps/{DB_APP}"
#: The App whose icon shows a badge (tests/services.py BadgeNotesService).
BADGES = ("badges", "badges-secret")
BADGES_PATH = "/apps/badges"

#: A pattern value: the member must be absent from the reply.
ABSENT = object()

#: Close code of a flood: too many refused messages outstanding, or before a login.
FLOOD_CLOSE_CODE = 4008
#: Close code of a session handed more than its send budget.
SLOW_READER_CLOSE_CODE = 4013

#: How long to wait for a reply or a close the case expects (a bound, not a pause).
WAIT = 3.0


# -- what is sent ------------------------------------------------------------


@dataclass(frozen=True)
class Send:
    """Send a frame ``times`` times: JSON ``message``, raw ``text``, or binary ``data``.

    ``make`` builds a large text frame when the case runs, not at import.
    """

    message: Mapping[str, Any] | None = None
    text: str | None = None
    data: bytes | None = None
    make: Callable[[], str] | None = None
    times: int = 1


@dataclass(frozen=True)
class Login:
    """Log in (challenge and digest done right): setup, its replies are not observed."""

    app: str
    password: str
    sip: str = ""


@dataclass(frozen=True)
class Attempt:
    """An ``AppLogin`` whose reply is observed.

    ``challenge``: ``"fresh"`` asks one first (its reply is not observed),
    ``"none"`` sends AppLogin straight away, ``"replayed"`` asks one and then sends a
    login captured from another connection's successful login. The digest is made
    over ``sign`` (default: the fields sent) with ``password``; a field of the wrong
    type gets a digest of zeros; ``digest=False`` leaves the member out.
    """

    fields: Mapping[str, Any]
    password: str
    challenge: str = "fresh"
    sign: Mapping[str, Any] | None = None
    digest: bool = True


@dataclass(frozen=True)
class Database:
    """Run ``action`` (sync, ORM) while the connection is open."""

    action: Callable[[], None]


@dataclass(frozen=True)
class Reconnect:
    """Close the socket and open a fresh one; observation starts again."""


@dataclass(frozen=True)
class Notify:
    """Send an indication to the subscribers of ``topic`` (``appws.anotify``).

    Once every frame sent before has been handled (a request's answer is awaited first).
    """

    topic: str
    message: Mapping[str, Any]


Step = Send | Login | Attempt | Database | Reconnect | Notify


@dataclass(frozen=True)
class Case:
    """One bad input: what is sent and what must happen.

    ``replies`` are patterns matched in order, each by one reply or a run of
    consecutive replies; then the socket is closed with ``close``, or the
    handshake is ``refused``, or (neither) the connection still answers a request.
    ``logged``: text a record (INFO or worse) on the ``appws`` loggers must contain.
    """

    section: str
    name: str
    sent: str
    steps: Sequence[Step]
    replies: Sequence[Mapping[str, Any]] = ()
    close: int | None = None
    refused: bool = False
    logged: str | None = None
    note: str = ""
    path: str = "/apps/notes"
    headers: Sequence[tuple[bytes, bytes]] = ()
    appws: Mapping[str, Any] = field(default_factory=dict)
    django: Mapping[str, Any] = field(default_factory=dict)
    db: bool = False

    @property
    def id(self) -> str:
        return "".join(c if c.isalnum() else "-" for c in self.name.lower()).strip("-")


# -- frames the cases send ----------------------------------------------------


def nested(depth: int, mt: str = "ListNotes") -> str:
    """A frame whose nesting is ``depth`` levels (the frame object itself is 1)."""
    inner = depth - 1
    return f'{{"mt":"{mt}","x":' + "[" * inner + "]" * inner + "}"


def oversized() -> str:
    return json.dumps({"mt": "ListNotes", "pad": "x" * MiB})


#: ``MAX_LOGIN_MESSAGE_BYTES`` and ``MAX_LOGIN_CONTAINERS`` by default.
LOGIN_LIMIT = 64 * 1024
LOGIN_CONTAINERS = 1024


def padded(mt: str, size: int) -> str:
    """A frame of ``mt`` exactly ``size`` bytes long."""
    head = f'{{"mt":"{mt}","pad":"'
    return head + "x" * (size - len(head) - 2) + '"}'


def over_login_limit() -> str:
    return padded("AppChallenge", LOGIN_LIMIT + 1)


def at_login_limit() -> str:
    return padded("AppChallenge", LOGIN_LIMIT)


def large_after_login() -> str:
    return padded("ListNotes", 512 * 1024)


def large_login() -> str:
    info = {"cn": "x" * LOGIN_LIMIT}
    return json.dumps({"mt": "AppLogin", **login_fields("notes"), "info": info, "digest": "0" * 64})


def many_objects_login() -> str:
    info = {"apps": [{} for _ in range(LOGIN_CONTAINERS)]}  # with the frame and info: 1026
    return json.dumps({"mt": "AppLogin", **login_fields("notes"), "info": info, "digest": "0" * 64})


def badge_setup(called: str) -> dict[str, Any]:
    """A presence-subscribe call from ``alice`` to ``called`` (a badge subscription)."""
    sig = {
        "type": "setup",
        "cg": {"sip": "alice"},
        "cd": {"sip": called},
        "fty": [{"type": "presence_subscribe"}],
    }
    return {"api": "PbxSignal", "mt": "Signaling", "call": -1, "sig": sig}


def check_login(app: str) -> dict[str, Any]:
    """An AppCheckLogin for ``app`` with a digest that is not right."""
    return {
        "mt": "AppCheckLogin",
        "app": app,
        "domain": "",
        "challenge": "0123456789abcdef",
        "digest": "0" * 64,
    }


def echo_of(text: str) -> Callable[[], str]:
    """An Echo request carrying ``text``, written as UTF-8 (not escaped)."""
    return lambda: json.dumps({"mt": "Echo", "text": text, "src": "e"}, ensure_ascii=False)


def login_fields(app: str, **fields: Any) -> dict[str, Any]:
    return {"app": app, "domain": "", "sip": "mallory", "guid": "", "dn": "", **fields}


def _make_db_app(**fields: Any) -> None:
    from appws.models import App

    app = App(name=DB_APP, title="DB Notes", **fields)
    app.set_password(DB_PASSWORD)
    app.save()


def make_db_app() -> None:
    _make_db_app()


def make_disabled_db_app() -> None:
    _make_db_app(enabled=False)


def change_db_password() -> None:
    from appws.models import App

    app = App.objects.get(name=DB_APP)
    app.set_password("a-new-secret")
    app.save()


def disable_db_app() -> None:
    from appws.models import App

    app = App.objects.get(name=DB_APP)
    app.enabled = False
    app.save()


def services_info(name: str, url: str) -> dict[str, Any]:
    service = {"name": name, "title": "Evil", "url": url}
    return {"api": "Services", "mt": "ServicesInfo", "src": "v1", "services": [service]}


def no_services_stored() -> None:
    from appws.models import PbxConnection
    from appws.pbx import services

    # Raising here fails the case: the browser's list reached the PBX rows.
    assert not PbxConnection.objects.exists() and services("notes") == []


def _refused_login(text: str) -> dict[str, Any]:
    return {"mt": "AppLoginResult", "ok": False, "errorText": text}


def _frame_error(code: str) -> dict[str, Any]:
    return {"mt": "Error", "error": code}


FOREIGN_ORIGIN = "https://evil.example"
LIVE = {"TRACK_SESSIONS": True}

#: A ``sip`` that would write a log line of its own if it were logged as it is.
FORGED_SIP = "x\nFAKE appws line\x1b[31m"

# -- the cases ----------------------------------------------------------------

FRAMES = "Frames that cannot be read"
REQUESTS = "Requests"
LOGIN = "Logins"
LIVE_SESSION = "Live sessions"
LIMITS = "Limits"
ORIGIN = "Browser origin"

CASES: list[Case] = [
    # Frames: answered with {"mt": "Error"}, no src (the frame was never read).
    Case(
        FRAMES,
        "malformed JSON",
        '`{"mt": "ListNotes"` (cut off)',
        [Send(text='{"mt": "ListNotes"')],
        [_frame_error("not-json")],
    ),
    Case(
        FRAMES,
        "NaN / Infinity",
        '`{"mt": "ListNotes", "n": NaN}`',
        [Send(text='{"mt": "ListNotes", "n": NaN}')],
        [_frame_error("not-json")],
    ),
    Case(
        FRAMES,
        "number out of range",
        '`{"mt": "Echo", "n": 1e400}` on the Echo App (a float that overflows to infinity)',
        [Login("echo", "echo"), Send(text='{"mt": "Echo", "n": 1e400, "src": "e"}')],
        [_frame_error("not-json")],
        path="/apps/echo",
    ),
    Case(
        FRAMES,
        "number too long",
        "an integer of 5,000 digits",
        [Send(text='{"mt": "ListNotes", "n": ' + "9" * 5000 + "}")],
        [_frame_error("not-json")],
    ),
    Case(
        FRAMES,
        "not an object",
        '`[1, 2]`, `"AppChallenge"`, `5`, `null`',
        [Send(text="[1, 2]"), Send(text='"AppChallenge"'), Send(text="5"), Send(text="null")],
        [_frame_error("not-object")],
    ),
    Case(
        FRAMES,
        "binary frame",
        'binary `{"mt":"AppChallenge"}`',
        [Send(data=b'{"mt":"AppChallenge"}')],
        [_frame_error("binary")],
    ),
    Case(FRAMES, "missing mt", "`{}`", [Send(message={})], [_frame_error("no-mt")]),
    Case(
        FRAMES,
        "mt of the wrong type",
        '`{"mt": 5}`, `{"mt": ["AppLogin"]}`, `{"mt": ""}`',
        [Send(message={"mt": 5}), Send(message={"mt": ["AppLogin"]}), Send(message={"mt": ""})],
        [_frame_error("no-mt")],
    ),
    Case(
        FRAMES,
        "api of the wrong type",
        '`{"mt": "ListNotes", "api": 3}`',
        [Send(message={"mt": "ListNotes", "api": 3})],
        [_frame_error("bad-api")],
    ),
    Case(
        FRAMES,
        "src of the wrong type",
        '`{"mt": "ListNotes", "src": {"a": 1}}`',
        [Send(message={"mt": "ListNotes", "src": {"a": 1}})],
        [_frame_error("bad-src")],
    ),
    Case(
        FRAMES,
        "long src",
        "`src` of 257 characters (`MAX_SRC_LENGTH` 256)",
        [Send(message={"mt": "AppChallenge", "src": "s" * 257})],
        [_frame_error("bad-src")],
    ),
    Case(
        FRAMES,
        "long mt",
        "`mt` of 257 characters, logged in (every reply echoes it)",
        [Login(*NOTES), Send(message={"mt": "M" * 257})],
        [_frame_error("bad-mt")],
    ),
    Case(
        FRAMES,
        "huge api",
        "a logged-in request whose `api` is 1,040,000 characters (its own error reply would "
        "exceed `MAX_OUTGOING_BYTES`)",
        [Login(*NOTES), Send(make=lambda: json.dumps({"mt": "ListNotes", "api": "a" * 1_040_000}))],
        [_frame_error("bad-api")],
        note="before: the session ended with 1011",
    ),
    Case(
        FRAMES,
        "src at the limit",
        "`src` of 256 characters",
        [Send(message={"mt": "AppChallenge", "src": "s" * 256})],
        [{"mt": "AppChallengeResult", "src": "s" * 256}],
        note="accepted: the limit is inclusive",
    ),
    Case(
        FRAMES,
        "oversized frame",
        "a 1 MiB string in a frame, logged in (`MAX_MESSAGE_BYTES` 1 MiB)",
        [Login(*NOTES), Send(make=oversized)],
        [_frame_error("too-large")],
        note="not parsed at all",
    ),
    Case(
        FRAMES,
        "large frame before login",
        "a frame of 64 KiB + 1 byte before login (`MAX_LOGIN_MESSAGE_BYTES` 64 KiB)",
        [Send(make=over_login_limit)],
        [_frame_error("too-large")],
        note="not parsed at all: whoever knows no password gets little parsed",
    ),
    Case(
        FRAMES,
        "frame at the limit before login",
        "an `AppChallenge` of exactly 64 KiB before login",
        [Send(make=at_login_limit)],
        [{"mt": "AppChallengeResult"}],
        note="accepted: the limit is inclusive",
    ),
    Case(
        FRAMES,
        "large AppLogin",
        "an `AppLogin` whose `info` holds 64 KiB",
        [Send(message={"mt": "AppChallenge"}), Send(make=large_login)],
        [{"mt": "AppChallengeResult"}, _frame_error("too-large")],
        note="not parsed, no digest computed; the challenge is not used up",
    ),
    Case(
        FRAMES,
        "many objects before login",
        "an `AppLogin` whose `info` holds 1,024 empty objects (`MAX_LOGIN_CONTAINERS` 1,024)",
        [Send(message={"mt": "AppChallenge"}), Send(make=many_objects_login)],
        [{"mt": "AppChallengeResult"}, _frame_error("too-large")],
        note="not parsed: each object would be an allocation for the garbage collector",
    ),
    Case(
        FRAMES,
        "large frame after login",
        "a 512 KiB frame, logged in",
        [Login(*NOTES), Send(make=large_after_login)],
        [{"mt": "ListNotesResult", "error": ABSENT}],
        note="accepted: after login `MAX_MESSAGE_BYTES` applies",
    ),
    Case(
        FRAMES,
        "too deep",
        "arrays nested 33 levels deep (`MAX_DEPTH` 32)",
        [Send(text=nested(33))],
        [_frame_error("too-deep")],
    ),
    Case(
        FRAMES,
        "depth at the limit",
        "arrays nested 32 levels deep",
        [Login(*NOTES), Send(text=nested(32))],
        [{"mt": "ListNotesResult", "error": ABSENT}],
        note="accepted",
    ),
    Case(
        FRAMES,
        "nesting far too deep",
        "`[` 100,000 times, logged in",
        [Login(*NOTES), Send(text="[" * 100_000 + "]" * 100_000)],
        [_frame_error("too-deep")],
        note="refused from its brackets, not parsed",
    ),
    Case(
        FRAMES,
        "nesting beyond the parser",
        "`[` 100,000 times, logged in, with `MAX_DEPTH` raised to 1,000,000",
        [Login(*NOTES), Send(text="[" * 100_000 + "]" * 100_000)],
        [_frame_error("not-json")],
        appws={"MAX_DEPTH": 10**6},
        note="the parser's own limit is answered too",
    ),
    Case(
        FRAMES,
        "odd unicode",
        '`src` `"\\ud800\\u2028\\u0000\\u202e"` (a lone surrogate, LINE SEPARATOR, NUL, '
        "RIGHT-TO-LEFT OVERRIDE)",
        [Send(text='{"mt": "AppChallenge", "src": "\\ud800\\u2028\\u0000\\u202e"}')],
        [{"mt": "AppChallengeResult", "src": "\ud800\u2028\x00\u202e"}],
        note="accepted as text and echoed; replies are UTF-8 JSON, with a lone surrogate "
        "escaped as `\\udxxx` so that every frame is valid UTF-8",
    ),
    # Requests: answered with "<mt>Result", src echoed.
    Case(
        REQUESTS,
        "request before login",
        '`{"mt": "ListNotes", "src": "1"}` without logging in',
        [Send(message={"mt": "ListNotes", "src": "1"})],
        [{"mt": "ListNotesResult", "error": "not-logged-in", "src": "1"}],
        note="the handler does not run",
    ),
    Case(
        REQUESTS,
        "AppInfo before login",
        '`{"mt": "AppInfo", "app": "notes"}` without logging in',
        [Send(message={"mt": "AppInfo", "app": "notes"})],
        [{"mt": "AppInfoResult", "error": "not-logged-in"}],
    ),
    Case(
        REQUESTS,
        "unknown mt",
        '`{"mt": "ListFoo", "src": "1"}`',
        [Login(*NOTES), Send(message={"mt": "ListFoo", "src": "1"})],
        [{"mt": "ListFooResult", "error": "unknown-mt", "src": "1"}],
    ),
    Case(
        REQUESTS,
        "unknown api",
        '`{"mt": "ListNotes", "api": "Nope"}`',
        [Login(*NOTES), Send(message={"mt": "ListNotes", "api": "Nope"})],
        [{"mt": "ListNotesResult", "api": "Nope", "error": "unknown-api"}],
    ),
    Case(
        REQUESTS,
        "forbidden operation",
        '`{"mt": "DeleteNote"}` from an App without the permission `auth.delete_user`',
        [Login(*NOTES), Send(message={"mt": "DeleteNote", "id": 1})],
        [{"mt": "DeleteNoteResult", "error": "forbidden"}],
        note="the handler does not run",
    ),
    Case(
        REQUESTS,
        "handler raises",
        "a request whose handler raises `RuntimeError`",
        [Login(*NOTES), Send(message={"mt": "Crash"})],
        [{"mt": "CrashResult", "error": "internal"}],
        logged="Crash",
        note="traceback logged on `appws`; the client learns no details",
    ),
    Case(
        REQUESTS,
        "CheckBuild without url",
        '`{"mt": "CheckBuild"}`, `{"mt": "CheckBuild", "url": 5}`',
        [Send(message={"mt": "CheckBuild"}), Send(message={"mt": "CheckBuild", "url": 5})],
        [{"mt": "CheckBuildResult", "error": "bad-request"}],
    ),
    Case(
        REQUESTS,
        "CheckBuild with an unparsable url",
        '`{"mt": "CheckBuild", "url": "http://["}` (a build number is configured)',
        [Send(message={"mt": "CheckBuild", "url": "http://["})],
        [{"mt": "CheckBuildResult", "error": "bad-request"}],
        appws={"BUILD": "0abc"},
    ),
    Case(
        REQUESTS,
        "AppInfo for a foreign App",
        '`{"mt": "AppInfo", "app": "echo"}`, `{"mt": "AppInfo", "app": 5}`',
        [
            Login(*NOTES),
            Send(message={"mt": "AppInfo", "app": "echo"}),
            Send(message={"mt": "AppInfo", "app": 5}),
        ],
        [{"mt": "AppInfoResult", "error": "unknown-app"}],
    ),
    Case(
        REQUESTS,
        "AppCheckLogin with a missing field",
        '`{"mt": "AppCheckLogin", "app": "notes", "challenge": "1"}`',
        [Login(*NOTES), Send(message={"mt": "AppCheckLogin", "app": "notes", "challenge": "1"})],
        [{"mt": "AppCheckLoginResult", "error": "bad-request"}],
    ),
    Case(
        REQUESTS,
        "AppCheckLogin with a wrong digest",
        "`AppCheckLogin` from `notes-admin` (allowed to check `notes`) for `notes` with a "
        "digest made with another password",
        [Login(*NOTES_ADMIN), Send(message=check_login("notes"))],
        [{"mt": "AppCheckLoginResult", "ok": False}],
        path=NOTES_ADMIN_PATH,
        note="counted as a failed login from the address",
    ),
    Case(
        REQUESTS,
        "AppCheckLogin without the right",
        "`AppCheckLogin` for `notes-admin` from a session of `notes` (no `check_logins`)",
        [Login(*NOTES), Send(message=check_login("notes-admin"))],
        [
            {
                "mt": "AppCheckLoginResult",
                "error": "forbidden",
                "errorText": "App 'notes' may not check the password of App 'notes-admin'",
                "ok": ABSENT,
            }
        ],
        note="no password is checked: a session is no password oracle",
    ),
    Case(
        REQUESTS,
        "PbxInfo from a user's session",
        '`{"mt": "PbxInfo", "pbx": "fake", "apis": ["PbxAdminApi"]}` after a login as `alice`',
        [
            Login(*NOTES, sip="alice"),
            Send(message={"mt": "PbxInfo", "pbx": "fake", "apis": ["PbxAdminApi"]}),
        ],
        [
            {
                "mt": "PbxInfoResult",
                "error": "forbidden",
                "errorText": "PbxInfo is taken only from the PBX's own App object",
            }
        ],
        note="nothing changes: the session gets no PBX, no API calls can go to it",
    ),
    Case(
        REQUESTS,
        "ServicesInfo from a user's session",
        "`ServicesInfo` (api `Services`) listing a service, after a login as `alice`",
        [
            Login(*NOTES, sip="alice"),
            Send(message=services_info("evil@example.com", "wss://attacker.example/apps/x")),
            Database(no_services_stored),
        ],
        [{"mt": "ServicesInfoResult", "api": "Services", "error": "unknown-api"}],
        note="only a PBX session follows its PBX's services (`appws.pbx.services()` lists "
        "nothing from it): no login is ever asked for a service a browser named",
        db=True,
    ),
    Case(
        REQUESTS,
        "Badge call from a user's session",
        "`PbxInfo` with `PbxSignal`, then a presence-subscribe `setup` (`Signaling`), "
        "after a login as `alice` to an App with a badge",
        [
            Login(*BADGES, sip="alice"),
            Send(message={"mt": "PbxInfo", "pbx": "fake", "apis": ["PbxSignal"]}),
            Send(message=badge_setup("badges-obj")),
        ],
        [
            {"mt": "PbxInfoResult", "error": "forbidden"},
            {"mt": "SignalingResult", "api": "PbxSignal", "error": "unknown-mt"},
        ],
        path=BADGES_PATH,
        note="no `conn`, no count: only the PBX's own App object's session answers badge calls",
    ),
    Case(
        REQUESTS,
        "AppCheckLogin guesses",
        "2 wrong `AppCheckLogin` on one session (`LOGIN_FAILURE_LIMIT` 2)",
        [Login(*NOTES_ADMIN), Send(message=check_login("notes"), times=2)],
        [{"mt": "AppCheckLoginResult", "ok": False}],
        close=4429,
        path=NOTES_ADMIN_PATH,
        appws={"LOGIN_FAILURE_LIMIT": 2},
        note="the same failure count as `AppLogin`: the address may not log in either",
    ),
    # Logins: refused with ok:false, then closed with 4401 (every attempt costs a connection).
    Case(
        LOGIN,
        "login without a challenge",
        "`AppLogin` with no `AppChallenge` before it",
        [Attempt(login_fields("notes"), NOTES[1], challenge="none")],
        [_refused_login("no challenge")],
        close=4401,
    ),
    Case(
        LOGIN,
        "wrong digest",
        "`AppLogin` with a digest made with a wrong password",
        [Attempt(login_fields("notes"), "guessed")],
        [_refused_login("wrong digest")],
        close=4401,
        note="logged on `appws.login` (never the digest or the password)",
        logged="wrong digest",
    ),
    Case(
        LOGIN,
        "missing digest",
        "`AppLogin` without `digest`",
        [Attempt(login_fields("notes"), NOTES[1], digest=False)],
        [_refused_login("wrong digest")],
        close=4401,
    ),
    Case(
        LOGIN,
        "login field of the wrong type",
        '`AppLogin` with `"sip": 5`',
        [Attempt(login_fields("notes", sip=5), NOTES[1])],
        [_refused_login("AppLogin field 'sip' must be a string")],
        close=4401,
    ),
    Case(
        LOGIN,
        "info not an object",
        '`AppLogin` with `"info": [1]` and a right digest over it',
        [Attempt(login_fields("notes", info=[1]), NOTES[1])],
        [_refused_login("AppLogin field 'info' must be an object")],
        close=4401,
    ),
    Case(
        LOGIN,
        "replayed login",
        "a successful `AppLogin` captured on another connection, sent after a fresh `AppChallenge`",
        [Attempt(login_fields("notes"), NOTES[1], challenge="replayed")],
        [_refused_login("wrong digest")],
        close=4401,
        note="each challenge is fresh and good for one `AppLogin`",
    ),
    Case(
        LOGIN,
        "digest made for another App",
        "`AppLogin` for `notes` whose digest was made for `notes-admin` with its password",
        [
            Attempt(
                login_fields("notes"),
                NOTES_ADMIN[1],
                sign=login_fields("notes-admin"),
            )
        ],
        [_refused_login("wrong digest")],
        close=4401,
    ),
    Case(
        LOGIN,
        "fields re-split through the digest's colons",
        "`AppLogin` as `mallory` signed over a chosen challenge `victim:…:<real challenge>`, "
        'sent re-split as `"domain": "site:mallory:g:Mallory"`, `"sip": "victim"`',
        [
            Attempt(
                login_fields(
                    "notes", domain="site:mallory:g:Mallory", sip="victim", guid="0" * 32, dn="V"
                ),
                NOTES[1],
            )
        ],
        [_refused_login("AppLogin field 'domain' must not contain ':'")],
        close=4401,
        note="the digest is right: a `:` in `domain`, `sip` or `guid` is refused before it "
        "is checked",
    ),
    Case(
        LOGIN,
        "info folded into dn",
        'an issued login with `info` moved into `dn` (`"dn": "Bob:{…}"`, no `info`): '
        "the same digest",
        [
            Attempt(
                login_fields("notes", dn='Bob:{"appobj":"notes"}'),
                NOTES[1],
                sign=login_fields("notes", dn="Bob", info={"appobj": "notes"}),
            )
        ],
        [_refused_login("AppLogin field 'dn' must not contain ':'")],
        close=4401,
        note="without `info`, `dn` may hold no `:`",
    ),
    Case(
        LOGIN,
        "info's start moved into dn",
        '`AppLogin` with `info` and `"dn": "Bob:{"appobj":…"` and a right digest',
        [
            Attempt(
                login_fields("notes", dn='Bob:{"appobj":"x"}', info={"cn": "Bob"}),
                NOTES[1],
            )
        ],
        [_refused_login("AppLogin field 'dn' must not contain ':{'")],
        close=4401,
        note="with `info`, a plain `:` in `dn` is accepted (real display names hold one)",
    ),
    Case(
        LOGIN,
        "NUL in a login field",
        '`AppLogin` with `"sip": "bob\\u0000"` and a right digest',
        [Attempt(login_fields("notes", sip="bob\x00"), NOTES[1])],
        [_refused_login("AppLogin field 'sip' must not contain a NUL character")],
        close=4401,
        note="PostgreSQL stores no NUL: the session's row and the user look-up would fail "
        "there, so every database refuses it, before the digest is checked",
    ),
    Case(
        LOGIN,
        "App not served here",
        '`AppLogin` for `"app": "payroll"`',
        [Attempt(login_fields("payroll"), "x")],
        [_refused_login("App 'payroll' is not served here")],
        close=4401,
    ),
    Case(
        LOGIN,
        "App not served at that URL",
        "a right login for `notes-admin` on `/apps/notes`",
        [Attempt(login_fields("notes-admin"), NOTES_ADMIN[1])],
        [_refused_login("App 'notes-admin' is not served at this URL")],
        close=4401,
    ),
    Case(
        LOGIN,
        "App without a password",
        "`AppLogin` for `dbnotes` on `/apps/dbnotes` with no App row for it",
        [Attempt(login_fields(DB_APP), DB_PASSWORD)],
        [_refused_login("App 'dbnotes' is not configured on this server")],
        close=4401,
        path=DB_PATH,
        db=True,
    ),
    Case(
        LOGIN,
        "disabled App",
        "a right login for a database App whose row is disabled",
        [Database(make_disabled_db_app), Attempt(login_fields(DB_APP), DB_PASSWORD)],
        [_refused_login("App 'dbnotes' is disabled")],
        close=4401,
        path=DB_PATH,
        db=True,
        note="checked after the digest: only holders of the password learn it",
    ),
    Case(
        LOGIN,
        "second login",
        "a second `AppLogin` on a logged-in connection",
        [Login(*NOTES), Attempt(login_fields("notes"), NOTES[1])],
        [_refused_login("already logged in on this connection")],
        note="the session is unchanged",
    ),
    Case(
        LOGIN,
        "login throttling",
        "2 failed logins from one address (`LOGIN_FAILURE_LIMIT` 2), then the right password",
        [
            Attempt(login_fields("notes"), "guess-1"),
            Reconnect(),
            Attempt(login_fields("notes"), "guess-2"),
            Reconnect(),
            Attempt(login_fields("notes"), NOTES[1]),
        ],
        [_refused_login("too many failed logins from this address")],
        close=4429,
        appws={"LOGIN_FAILURE_LIMIT": 2},
        note="the password is not even checked until `LOGIN_FAILURE_WINDOW` has passed",
    ),
    # Live sessions: changes to the App reach sessions already logged in.
    Case(
        LIVE_SESSION,
        "password changed mid-session",
        "the database App's password is changed while a session of it is open",
        [Database(make_db_app), Login(DB_APP, DB_PASSWORD), Database(change_db_password)],
        close=4401,
        path=DB_PATH,
        appws=LIVE,
        db=True,
        note='"log in again": the session key no longer matches',
    ),
    Case(
        LIVE_SESSION,
        "App disabled mid-session",
        "the database App is disabled while a session of it is open",
        [Database(make_db_app), Login(DB_APP, DB_PASSWORD), Database(disable_db_app)],
        close=4403,
        path=DB_PATH,
        appws=LIVE,
        db=True,
    ),
    Case(
        LIVE_SESSION,
        "log line forged by a `sip`",
        "a login with `sip` holding a newline and a terminal escape, then the App is disabled",
        [
            Database(make_db_app),
            Login(DB_APP, DB_PASSWORD, sip=FORGED_SIP),
            Database(disable_db_app),
        ],
        close=4403,
        path=DB_PATH,
        appws=LIVE,
        db=True,
        logged=f"ending session of App {DB_APP!r} (sip {FORGED_SIP!r})",
        note="the line ending the session on `appws.login` shows the `sip` as "
        + f"`{FORGED_SIP!r}`: every client-chosen value in a log line is quoted",
    ),
    # Limits.
    Case(
        LIMITS,
        "over the rate limit",
        "a login (2 messages), then 5 requests at once (`RATE_LIMIT` 1/s, `RATE_BURST` 5)",
        [Login(*NOTES), Send(message={"mt": "ListNotes", "src": "r"}, times=5)],
        [
            {"mt": "ListNotesResult", "error": ABSENT, "src": "r"},
            {"mt": "ListNotesResult", "error": "rate-limited", "src": "r"},
        ],
        appws={"RATE_LIMIT": 1, "RATE_BURST": 5},
        note="3 requests are served, the rest refused (their handler does not run)",
    ),
    Case(
        LIMITS,
        "request flood",
        "30 requests at once (`RATE_LIMIT` 1/s, `RATE_BURST` 5)",
        [Login(*NOTES), Send(message={"mt": "ListNotes", "src": "r"}, times=30)],
        [
            {"mt": "ListNotesResult", "error": ABSENT, "src": "r"},
            {"mt": "ListNotesResult", "error": "rate-limited", "src": "r"},
        ],
        close=FLOOD_CLOSE_CODE,
        appws={"RATE_LIMIT": 1, "RATE_BURST": 5},
        note="closed once more than `RATE_BURST` refused requests are outstanding",
    ),
    Case(
        LIMITS,
        "flood before login",
        "21 `AppChallenge` without logging in (`MAX_MESSAGES_BEFORE_LOGIN` 20)",
        [Send(message={"mt": "AppChallenge"}, times=21)],
        [{"mt": "AppChallengeResult"}],
        close=FLOOD_CLOSE_CODE,
    ),
    Case(
        LIMITS,
        "login timeout",
        "nothing, for longer than `LOGIN_TIMEOUT` (here 0.5 s)",
        [],
        close=4408,
        appws={"LOGIN_TIMEOUT": 0.5},
    ),
    Case(
        LIMITS,
        "challenge but no login",
        "`AppChallenge`, then nothing for longer than `LOGIN_TIMEOUT` (here 0.5 s)",
        [Send(message={"mt": "AppChallenge"})],
        [{"mt": "AppChallengeResult"}],
        close=4408,
        appws={"LOGIN_TIMEOUT": 0.5},
    ),
    Case(
        LIMITS,
        "too many subscriptions",
        "3 subscriptions (`MAX_SUBSCRIPTIONS` 2)",
        [
            Login(*NOTES),
            Send(message={"mt": "Subscribe", "topic": "t1"}),
            Send(message={"mt": "Subscribe", "topic": "t2"}),
            Send(message={"mt": "Subscribe", "topic": "t3"}),
        ],
        [
            {"mt": "SubscribeResult", "error": ABSENT},
            {"mt": "SubscribeResult", "error": "too-many-subscriptions"},
        ],
        appws={"MAX_SUBSCRIPTIONS": 2},
    ),
    Case(
        LIMITS,
        "reply over the outgoing limit",
        "an `Echo` of 1,010,000 ASCII characters (`MAX_OUTGOING_BYTES` 1,000,000)",
        [Login("echo", "echo"), Send(make=echo_of("x" * 1_010_000))],
        [{"mt": "EchoResult", "error": "too-large", "src": "e"}],
        path="/apps/echo",
        logged="over MAX_OUTGOING_BYTES",
        note="the reply is not sent: daphne would close the connection (1011) on a frame "
        "over its own 1 MiB limit",
    ),
    Case(
        LIMITS,
        "non-ASCII reply",
        "an `Echo` of 300,000 `€` (900,000 bytes of UTF-8)",
        [Login("echo", "echo"), Send(make=echo_of("€" * 300_000))],
        [{"mt": "EchoResult", "error": ABSENT, "src": "e"}],
        path="/apps/echo",
        note="answered: replies are UTF-8, not `\\u20ac` escapes (1.8 MB)",
    ),
    Case(
        LIMITS,
        "indication over the outgoing limit",
        "an indication of 6,000 bytes to a subscriber (`MAX_OUTGOING_BYTES` 5,000)",
        [
            Login(*NOTES),
            Send(message={"mt": "Subscribe", "topic": "big", "src": "s"}),
            Notify("big", {"mt": "Big", "pad": "x" * 6000}),
        ],
        [{"mt": "SubscribeResult", "src": "s"}],
        appws={"MAX_OUTGOING_BYTES": 5000},
        logged="over MAX_OUTGOING_BYTES",
        note="dropped for this subscriber, logged on `appws.notify` and counted",
    ),
    Case(
        LIMITS,
        "copies of one indication",
        "3 subscriptions to a topic, then a 4,000-byte indication to it "
        "(`MAX_INDICATION_BYTES` 10,000)",
        [
            Login(*NOTES),
            *(Send(message={"mt": "Subscribe", "topic": "t", "src": src}) for src in "abc"),
            Notify("t", {"mt": "Tock", "pad": "x" * 4000}),
        ],
        [
            {"mt": "SubscribeResult"},
            {"mt": "Tock", "src": "a"},
            {"mt": "Tock", "src": "b"},
        ],
        close=SLOW_READER_CLOSE_CODE,
        appws={"MAX_OUTGOING_BYTES": 5000, "MAX_INDICATION_BYTES": 10_000},
        logged="slow reader",
        note="closed as a slow reader before the copy that would pass the bound; "
        "its subscriptions end",
    ),
    Case(
        LIMITS,
        "send window",
        "`Echo` requests of 4,000 bytes, 8 at once (`SEND_WINDOW_BYTES` 20,000)",
        [Login("echo", "echo"), Send(make=echo_of("x" * 4000), times=8)],
        [{"mt": "EchoResult", "error": ABSENT, "src": "e"}],
        close=SLOW_READER_CLOSE_CODE,
        path="/apps/echo",
        appws={
            "MAX_OUTGOING_BYTES": 5000,
            "SEND_WINDOW_BYTES": 20_000,
            "SEND_WINDOW_SECONDS": 3600,
        },
        logged="slow reader",
        note="closed as a slow reader once the replies would pass the bound "
        "(`SEND_WINDOW_SECONDS` here 3600)",
    ),
    # Browser origin: checked at the handshake, before anything else.
    Case(
        ORIGIN,
        "foreign Origin",
        f"a handshake with `Origin: {FOREIGN_ORIGIN}`",
        [],
        refused=True,
        logged=FOREIGN_ORIGIN,
        headers=[(b"origin", FOREIGN_ORIGIN.encode())],
        note="logged as a WARNING on `appws` with the origin",
    ),
    Case(
        ORIGIN,
        "Origin null",
        "a handshake with `Origin: null` (sandboxed frame, `file:` page)",
        [],
        refused=True,
        logged="null",
        headers=[(b"origin", b"null")],
    ),
    Case(
        ORIGIN,
        "Origin of the site",
        "`Origin: http://localhost:8000` (`localhost` in `ALLOWED_HOSTS`)",
        [Send(message={"mt": "AppChallenge"})],
        [{"mt": "AppChallengeResult"}],
        headers=[(b"origin", b"http://localhost:8000")],
        note="accepted",
    ),
    Case(
        ORIGIN,
        "Origin under a wildcard host",
        "`Origin: https://pbx.example.com` with `.example.com` in `ALLOWED_HOSTS`",
        [Send(message={"mt": "AppChallenge"})],
        [{"mt": "AppChallengeResult"}],
        headers=[(b"origin", b"https://pbx.example.com")],
        django={"ALLOWED_HOSTS": [".example.com"]},
        note="accepted",
    ),
    Case(
        ORIGIN,
        "Origin listed in ALLOWED_ORIGINS",
        "`Origin: https://myapps.example.net` with that origin in `ALLOWED_ORIGINS`",
        [Send(message={"mt": "AppChallenge"})],
        [{"mt": "AppChallengeResult"}],
        headers=[(b"origin", b"https://myapps.example.net")],
        appws={"ALLOWED_ORIGINS": ["https://myapps.example.net"]},
        note="accepted",
    ),
    Case(
        ORIGIN,
        "no Origin",
        "a handshake without `Origin` (a PBX, a script)",
        [Send(message={"mt": "AppChallenge"})],
        [{"mt": "AppChallengeResult"}],
        note="accepted: only browsers send `Origin`",
    ),
]


# -- running a case -------------------------------------------------------------


@dataclass
class Observed:
    """What a case produced."""

    replies: list[Any] = field(default_factory=list)
    close: int | None = None
    refused: int | None = None
    probe: dict[str, Any] | None = None
    logs: list[logging.LogRecord] = field(default_factory=list)
    bystander: list[dict[str, Any]] = field(default_factory=list)


class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def _digest(fields: Mapping[str, Any], challenge: str, password: str) -> str:
    from appws.protocol import login_digest

    try:
        return login_digest(fields, challenge, password)
    except (TypeError, ValueError):
        return "0" * 64


class _Subject:
    """The communicator a case talks through, and what it received."""

    def __init__(self, case: Case) -> None:
        self.case = case
        self.comm: Any = None
        self.observed = Observed()
        self.logged_in = False

    async def open(self) -> None:
        from appws.testing import AppwsCommunicator
        from tests.services import application

        self.comm = AppwsCommunicator(application, self.case.path, headers=list(self.case.headers))
        connected, code = await self.comm.connect(WAIT)
        if not connected:
            self.observed.refused = code
        else:
            self.comm._appws_connected = True
        self.logged_in = False
        self.observed.replies = []
        self.observed.close = None

    async def next_output(self, timeout: float = WAIT) -> dict[str, Any]:
        output: dict[str, Any] = await self.comm.receive_output(timeout)
        if output["type"] == "websocket.close":
            if self.observed.close is not None:
                raise AssertionError("closed twice")
            self.observed.close = output.get("code", 1000)
            return output
        if output["type"] != "websocket.send" or output.get("text") is None:
            raise AssertionError(f"the server sent something but a text frame: {output!r}")
        reply = json.loads(output["text"])
        if not isinstance(reply, dict) or not isinstance(reply.get("mt"), str):
            raise AssertionError(f"a reply is not an object with a string mt: {reply!r}")
        return output

    async def await_reply(self, wanted: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        """Return the first reply ``wanted`` accepts; record the others."""
        while True:
            output = await self.next_output()
            if output["type"] == "websocket.close":
                raise AssertionError(f"closed ({self.observed.close}) while waiting for a reply")
            reply: dict[str, Any] = json.loads(output["text"])
            if wanted(reply):
                return reply
            self.observed.replies.append(reply)

    async def challenge(self) -> str:
        await self.comm.send_json_to({"mt": "AppChallenge", "src": "challenge"})
        reply = await self.await_reply(lambda r: r.get("src") == "challenge")
        challenge: str = reply["challenge"]
        return challenge

    async def send(self, step: Send) -> None:
        for _ in range(step.times):
            if step.data is not None:
                await self.comm.send_to(bytes_data=step.data)
                continue
            if step.message is not None:
                text = json.dumps(step.message)
            elif step.make is not None:
                text = step.make()
            else:
                assert step.text is not None
                text = step.text
            await self.comm.send_to(text_data=text)

    async def notify(self, step: Notify) -> None:
        from appws import anotify

        # Frames are handled in order: once this one is answered, so are the others.
        await self.comm.send_json_to({"mt": "Sync", "src": "sync"})
        await self.await_reply(lambda r: r.get("src") == "sync")
        await anotify(step.topic, step.message)

    async def login(self, step: Login) -> None:
        result = await self.comm.login(step.app, step.password, sip=step.sip)
        assert result["ok"] is True, result
        self.logged_in = True

    async def attempt(self, step: Attempt) -> None:
        message: dict[str, Any] = {"mt": "AppLogin", **step.fields}
        if step.challenge == "replayed":
            message = await _captured_login(self.case.path, step)
            await self.challenge()
        else:
            challenge = await self.challenge() if step.challenge == "fresh" else "0" * 16
            if step.digest:
                message["digest"] = _digest(step.sign or step.fields, challenge, step.password)
        await self.comm.send_json_to(message)

    async def finish(self) -> None:
        """Read what remains: up to the close, or up to the answer to a probe request."""
        case = self.case
        if self.observed.refused is not None:
            return
        if case.close is not None:
            while self.observed.close is None:
                output = await self.next_output()
                if output["type"] == "websocket.send":
                    self.observed.replies.append(json.loads(output["text"]))
            return
        probe_mt = "ListNotes" if self.logged_in or _logged_in_by(case) else "AppChallenge"
        await self.comm.send_json_to({"mt": probe_mt, "src": "probe"})
        self.observed.probe = await self.await_reply(lambda r: r.get("src") == "probe")

    async def close(self) -> None:
        if self.comm is not None:
            await self.comm.disconnect()
            self.comm = None


def _logged_in_by(case: Case) -> bool:
    return any(isinstance(step, Login) for step in case.steps)


async def _captured_login(path: str, step: Attempt) -> dict[str, Any]:
    """A successful AppLogin made on another connection."""
    from appws.testing import AppwsCommunicator
    from tests.services import application

    other = AppwsCommunicator(application, path)
    await other.connect(WAIT)
    await other.send_json_to({"mt": "AppChallenge"})
    challenge = (await other.receive_json_from(WAIT))["challenge"]
    message = {"mt": "AppLogin", **step.fields}
    message["digest"] = _digest(step.fields, challenge, step.password)
    await other.send_json_to(message)
    assert (await other.receive_json_from(WAIT))["ok"] is True
    await other.disconnect()
    return message


async def _open_bystander() -> Any:
    from appws.testing import AppwsCommunicator
    from tests.services import application

    bystander = AppwsCommunicator(application, "/apps/notes-admin")
    assert (await bystander.login(*NOTES_ADMIN, sip="bystander"))["ok"] is True
    reply = await bystander.request({"mt": "Subscribe", "topic": "bystander", "src": "b-sub"})
    assert reply == {"mt": "SubscribeResult", "src": "b-sub"}, reply
    return bystander


async def _check_bystander(bystander: Any) -> list[dict[str, Any]]:
    """The other session still answers and still gets its indications."""
    from appws import anotify

    replies = [await bystander.request({"mt": "ListNotes", "src": "b"}, WAIT)]
    await anotify("bystander", {"mt": "Tick"})
    replies.append(await bystander.receive_json_from(WAIT))
    return replies


async def _clean_up(case: Case) -> None:
    from asgiref.sync import sync_to_async
    from channels.layers import get_channel_layer
    from django.core.cache import cache

    layer = get_channel_layer()
    if layer is not None and hasattr(layer, "flush"):
        await layer.flush()
    await cache.aclear()
    if case.db:
        await sync_to_async(_delete_rows)()


def _delete_rows() -> None:
    from appws.models import App, LiveSession

    LiveSession.objects.all().delete()
    App.objects.all().delete()


async def run_case(case: Case) -> Observed:
    """Play ``case`` through the communicator, with its settings; return what happened."""
    from asgiref.sync import sync_to_async
    from django.conf import settings
    from django.test import override_settings

    capture = _Capture()
    appws_logger = logging.getLogger("appws")
    appws_logger.addHandler(capture)
    level = appws_logger.level
    appws_logger.setLevel(logging.INFO)  # INFO lines (a session ended) are checked too
    subject = _Subject(case)
    bystander = None
    try:
        with override_settings(APPWS={**settings.APPWS, **case.appws}, **case.django):
            bystander = await _open_bystander()
            await subject.open()
            if subject.observed.refused is None:
                for step in case.steps:
                    if isinstance(step, Send):
                        await subject.send(step)
                    elif isinstance(step, Login):
                        await subject.login(step)
                    elif isinstance(step, Attempt):
                        await subject.attempt(step)
                    elif isinstance(step, Database):
                        await sync_to_async(step.action)()
                    elif isinstance(step, Reconnect):
                        await subject.close()
                        await subject.open()
                    elif isinstance(step, Notify):
                        await subject.notify(step)
                await subject.finish()
            subject.observed.bystander = await _check_bystander(bystander)
    finally:
        appws_logger.removeHandler(capture)
        appws_logger.setLevel(level)
        await subject.close()
        if bystander is not None:
            await bystander.disconnect()
        await _clean_up(case)
    subject.observed.logs = capture.records
    return subject.observed


# -- checking -------------------------------------------------------------------


def matches(reply: Mapping[str, Any], pattern: Mapping[str, Any]) -> bool:
    """True when ``reply`` has every member of ``pattern`` (``errorText``: as a prefix)."""
    for key, value in pattern.items():
        if value is ABSENT:
            if key in reply:
                return False
        elif key == "errorText":
            if not isinstance(reply.get(key), str) or not reply[key].startswith(value):
                return False
        elif key not in reply or reply[key] != value or type(reply[key]) is not type(value):
            return False
    return True


def matches_runs(
    replies: Sequence[Mapping[str, Any]], patterns: Sequence[Mapping[str, Any]]
) -> bool:
    """True when ``replies`` is one or more matches of each pattern, in order."""
    if not patterns:
        return not replies
    if not replies or not matches(replies[0], patterns[0]):
        return False
    rest = replies[1:]
    # The first pattern takes this reply; then it goes on taking replies, or hands over.
    return matches_runs(rest, patterns[1:]) or matches_runs(rest, patterns)


def check(case: Case, observed: Observed) -> None:
    """Raise AssertionError when ``observed`` is not what ``case`` expects."""
    summary = f"case {case.name!r}: observed {observed.replies!r}, close {observed.close!r}"
    if case.refused:
        assert observed.refused is not None, f"{summary}: the handshake was accepted"
    else:
        assert observed.refused is None, f"{summary}: handshake refused ({observed.refused})"
        assert matches_runs(observed.replies, case.replies), (
            f"{summary}: expected replies {case.replies!r}"
        )
        assert observed.close == case.close, f"{summary}: expected close {case.close!r}"
        if case.close is None:
            assert observed.probe is not None, f"{summary}: the connection did not answer"
    if case.logged is not None:
        messages = [r.getMessage() for r in observed.logs]
        assert any(case.logged in m for m in messages), (
            f"{summary}: no log record mentioning {case.logged!r} in {messages!r}"
        )
    assert observed.bystander[0]["mt"] == "ListNotesResult", observed.bystander
    assert "error" not in observed.bystander[0], observed.bystander
    assert observed.bystander[1] == {"mt": "Tick", "src": "b-sub"}, observed.bystander

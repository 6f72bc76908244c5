"""Write docs/security.md from the cases in tests/security_cases.py, after running them.

    .venv/bin/python -m tests.make_security_table           # run every case, then write
    .venv/bin/python -m tests.make_security_table --no-run  # write without running them

(``.venv/bin/python tests/make_security_table.py`` does the same.)

Each case runs through Channels' communicator against the test services, on a
throw-away test database, exactly as tests/integration/test_security_cases.py runs
it; the page is written only when every case gets the reply or effect it lists.
test_security_table_is_current fails when the committed page differs from render().
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.security_cases import ABSENT, CASES, Case  # noqa: E402

OUTPUT = ROOT / "docs" / "security.md"
SHOWN_STRING = 24  # longer string values (src) are cut in the table

INTRO = """\
# Security: what bad input gets

Anything on the network can open a WebSocket to an App Service's URL and send whatever
it likes, before and after logging in. This page lists every kind of bad input the test
suite sends, and what appws answers or does. The general rules
([errors.md](errors.md) has every error code):

- A frame that cannot be read gets `{"mt": "Error", "error": …}` (no `src`: the frame
  was never read). A request that was read but cannot be served gets `<mt>Result` with
  `error` and the request's `src`.
- A bad message never closes the connection. The socket is closed only for a refused
  login (4401, or 4429 when throttled), a flood or a login that takes too long, a
  session handed more than its send budget (4013, "Slow readers" below), and
  when the session's App changes under it (4401, 4403).
- Every reply is a JSON object with a string `mt`, and other sessions never notice:
  in every case below, a second session, logged in to another App and subscribed to
  a topic, is still answered and still gets its indications afterwards.

The tables are generated. `tests/make_security_table.py` runs each case of
`tests/security_cases.py` through Channels' communicator against the test services and
writes this page; `tests/integration/test_security_cases.py` runs the same cases, and
fails when this page is not what the script writes. *Reply* shows the members the test
checks, in order (`errorText` by its start); a reply shown once may come once per frame
sent. *Effect* is what happens to the connection afterwards.

Random input is covered too: `tests/integration/test_fuzz.py` sends random frames
(hypothesis) before and after login — invalid JSON, every JSON type where an object is
expected, wrong types for every envelope and login field, huge strings, deep nesting,
lone surrogates, `U+2028`, NUL, right-to-left marks, binary frames — and random
`AppLogin`s, and checks the same rules after each.
"""

SECRETS = """\
## Secrets

- **Where App passwords live.** In `APPWS["APPS"]` (settings; read them from the
  environment), or in the App table, encrypted with Fernet under a key derived from
  `SECRET_KEY` ([admin.md](admin.md); keys in `SECRET_KEY_FALLBACKS` still decrypt, and
  `manage.py appws_app rotate` re-encrypts). The column holds a token, never the
  password; Django's cache holds the same token, never the password.
- **What never leaves the server.** The App password, the digest of an `AppLogin` and
  the session key are never logged and never sent. The admin's password field is
  write-only: no page shows the password or its token. `tests/integration/test_secrets.py`
  captures every log record (all loggers, level DEBUG) and every reply and page during
  failed and successful logins (an App from settings and one from the database),
  `AppCheckLogin`, the login issuer (`POST /appws/login`) and the App's admin pages,
  and searches them for the password, the stored token, the digests and the session
  key. The one deliberate exception: the issuer's answer carries a digest, because it
  *is* the login it issues ([login-issuing.md](login-issuing.md)); it is good for one
  challenge on one connection.
- **Logins the PBX issues to other services.** `appws.pbx.connect_service` asks the
  PBX (`GetServiceLogin`) for a login to another App Service; the answer travels from
  the PBX's session to the caller over the channel layer and goes on as the `AppLogin`,
  without its `key` and `salt`. The service never holds the other one's password; the
  digest is never logged, also not when the answer comes too late and is dropped
  (`tests/integration/test_pbx_services.py` captures every record at DEBUG). Only a
  PBX session follows its PBX's `ServicesInfo`: the same message from a browser's
  session is refused and stored nowhere (below), so no login is asked for a service a
  browser named.
- **What is logged.** Logins and refusals on `appws.login` with App, `sip`, domain,
  address and the reason; a handler's exception with its traceback on `appws` (the
  client gets `error: "internal"` and no details); refused browser origins on `appws`.
  Every value a client can choose (App, `sip`, domain, topic, path, origin, and the
  peer address, which a proxy header can set) is logged quoted, as Python's `repr`
  writes it: a newline or a terminal escape in a `sip` shows as `\\n` or `\\x1b` inside
  one line and cannot start a line of its own.
  `tests/unit/test_log_quoting.py` reads every logging call in `appws/` and fails on a
  value logged with a plain `%s`, an f-string or `.format`. One limit: the traceback
  logged with a handler's exception is Python's own, and the exception's message in it
  is printed as the handler's code made it.
- **Django's own SQL log.** With `DEBUG = True` Django logs every query with its
  parameters on `django.db.backends`, the encrypted token included (the password
  never): keep `DEBUG` off in production, as Django's deployment checklist says.
- **Login checks.** Challenges are 16 digits from `secrets`, one per `AppChallenge`,
  consumed by the first `AppLogin`; digests are compared in constant time.
- **The PBX users' passwords.** A replicated user row's `pwd` is removed at every
  nesting level (devices, emails, any object) before the row is kept, compared or
  shown: `tests/integration/test_pbx_users_store.py` replicates rows with `pwd` at three
  levels and reads every column of every table of the database, on SQLite and on
  PostgreSQL, for the secrets and for a `pwd` key.
- **Rows a PBX sends.** A replicated row without a `guid`, with a column of the wrong
  type or larger than 64 KiB is skipped and logged with its `guid` and the reason, never
  its content, and the replication goes on (`tests/integration/test_pbx_users_replicator.py`
  looks for the rows' passwords in the log). End to end, `tests/e2e/test_pbx_users.py`
  finds no `pwd` in any table, in daphne's log or on an admin page, on SQLite and on
  PostgreSQL.
- **PBX users and Django accounts.** The optional mapping ([pbx.md](pbx.md), "Mapping to
  Django users") never links a PBX user to a staff member or superuser, nor to an
  account it did not create, unless settings say so; it never deletes an account, and
  deactivates only accounts it created (`tests/integration/test_pbx_users_mapping.py`).
"""

LOGIN_JOIN = """\
## What the login digest's field join can and cannot tell apart

An `AppLogin`'s digest is a SHA-256 over its fields joined with `:`:
`app:domain:sip:guid:dn[:info]:challenge:password`. A field that holds a `:` can move a
boundary without changing the hashed text, so a digest made for one set of fields can
verify for another. Where that could change who a session is, appws refuses it:

- **The first four boundaries are fixed.** A `:` in `app`, `domain`, `sip` or `guid` is
  refused (4401). A DNS domain, a SIP user part, a hex GUID and an App name never hold
  one, so no real peer is refused.
- **The challenge is not text of the client's choosing.** The site's login issuer
  (`POST /appws/login`) signs only challenges of 1 to 16 letters or digits, the form this
  service (16 digits) and the vendor's servers hand out. An issuer that signed any text
  let a user choose `"victim:…:<real challenge>"`, get it signed, and re-split the
  signed text into a login whose `domain` swallowed their own fields and whose `sip`
  was the victim's (`tests/e2e/test_login_forgery.py` plays that attack against daphne).
  The issuer also signs only values the service accepts: a user name with `:`, a
  display name with `:{`, or a site domain with `:` (an IPv6 address as host name: set
  `APPWS["DOMAIN"]`) gets no login, and neither does a user named like the App (the
  login would pass for the App object).
- **`dn` and `info`.** Without `info`, `dn` may hold no `:`; otherwise anyone holding an
  issued login could fold its `info` into `dn` (same digest, `info` gone). With `info`,
  `dn` may hold a `:` (display names like "Room 1: Front desk" do) but not `:{`. That is
  enough: the text of `info` is a JSON object and starts with `{`. Moving the boundary
  into `info` gives a `dn` holding `:{`, refused. Moving it into `dn` needs an issued
  `dn` holding `:{` (this issuer signs none), and even then the forged `info` would be
  `<end of dn>:<the real info>`: the real `info` is a complete object, so whatever the
  moved text opens is never closed before the `:` that follows it. Only a challenge of
  the signer's could still close it: this issuer signs letters and digits only, and a
  signer that limits challenges to 16 characters, as the vendor's servers do, cannot
  sign one that also carries this service's 16 digits. This last step rests on that
  assumption about the signer: a PBX that signed challenges of any length for a user
  whose display name holds `:{` would let that user forge `info` (not `sip`, `domain`
  or `guid`).
- **The kind of a login** — `pbx` (`info.appobj` equals `sip`: the App object itself),
  `password` (no `info`, or no `info.appobj`), `user` (issued for a user) — is decided
  from digest-covered fields only; `pbxObj` is not covered and never counts. The admin's
  live sessions show it.

What the join cannot protect against: whoever holds the App's password — a client
logging in with it, a PBX, this site's issuer — can sign any fields it likes. A login
is exactly as trustworthy as whoever signed it.
"""

THROTTLE = """\
## Failed logins under concurrency

Each failed `AppLogin` or wrong `AppCheckLogin` counts against the client's address
(IPv4: the address; IPv6: its /64 network) in Django's cache. A login *reserves* one
of the window's `LOGIN_FAILURE_LIMIT` slots before its digest is checked: a wrong
digest keeps the slot, a right one gives it back. A login that finds every slot held
by logins still being checked waits for one, up to `LOGIN_TIMEOUT`, instead of being
refused. These cases need real concurrency, so they run against real daphne processes
in `tests/e2e/test_login_throttle.py` (`LOGIN_FAILURE_LIMIT` 10), which counts the
digests each process actually checked rather than trusting its replies:

{rows}

The limit holds across processes only with a cache whose `incr` is atomic and shared
(Redis, memcached); the system checks `appws.W003` and `appws.W006` say when it is not
([deploy.md](deploy.md), "Login throttling").
"""

#: The throttle's cases that need real daphnes: (bad input, sent, what happens).
THROTTLE_CASES = [
    (
        "a storm of wrong passwords",
        "400 `AppLogin`s with a wrong digest from one address, all at once, to one daphne",
        "exactly 10 digests are checked (`wrong digest`, 4401); the other 390 get "
        "`too many failed logins from this address…` and 4429, their digest unchecked",
    ),
    (
        "the same storm on two processes",
        "400 wrong `AppLogin`s at once, spread over two daphnes sharing a Redis cache",
        "exactly 10 digests are checked in all: the slots are counted with the cache's "
        "atomic `add`/`incr`",
    ),
    (
        "a crowd behind one NAT",
        "400 right `AppLogin`s at once from one address, to one daphne and to two",
        "every one is logged in: each waits for a slot and gives it back",
    ),
    (
        "other addresses of one IPv6 /64",
        "a failure from `2001:db8:0:1::1`, then a right login from `2001:db8:0:1::2` "
        "(`LOGIN_FAILURE_LIMIT` 1)",
        "refused (4429): one /64 is one client; `2001:db8:0:2::1` is not affected "
        "(`tests/integration/test_throttle.py`)",
    ),
    (
        "guesses while the cache is down",
        "an `AppLogin` and an `AppCheckLogin` while the Redis holding Django's cache is stopped",
        "no digest is checked (the count is unreachable: fails closed): `ok: false`, "
        "`logins cannot be checked for a moment…`, the login closed with 4429, the "
        "checking session kept (`tests/e2e/test_login_cache.py`)",
    ),
]


def render_throttle() -> str:
    lines = ["| bad input | sent | what happens |", "|---|---|---|"]
    lines += ["| " + " | ".join(_cell(cell) for cell in row) + " |" for row in THROTTLE_CASES]
    return THROTTLE.replace("{rows}", "\n".join(lines))


SLOW_READERS = """\
## Slow readers

A server cannot make a client read. daphne writes every reply into the connection's
buffer, and whatever the client does not read stays in the server's memory; through
ASGI, daphne gives appws no view of that buffer. Three things bound it:

- **daphne's keepalive ping.** After `--ping-interval` seconds (default 20) without a
  frame from the client, daphne sends a ping; a client that reads nothing never sees it,
  never answers, and `--ping-timeout` seconds (default 30) later daphne drops the TCP
  connection, buffer and all. The session then ends like any other: its subscriptions
  and its live-session row go. The test runs daphne with `--ping-interval 1
  --ping-timeout 2`: a client that sent 32 KiB `Echo` requests for 3 s and then stopped
  reading is dropped within seconds, while another session is served throughout, and
  the process grows by well under 100 MB.
- **appws's rate limit.** A session may send `RATE_LIMIT` messages per second (bursts of
  `RATE_BURST`); beyond, each message gets a short `rate-limited` reply instead of
  running a handler, and a flood (more than `RATE_BURST` refusals outstanding) closes the
  socket. The test checks that a client sending ten times `RATE_LIMIT` without reading
  is closed, that the flood's close code reaches a real client, and that other sessions
  are served meanwhile. Before a login a client gets at most `MAX_MESSAGES_BEFORE_LOGIN`
  small replies and `LOGIN_TIMEOUT` seconds.
- **appws's send budgets.** appws counts what it hands daphne per session. No frame is
  larger than `MAX_OUTGOING_BYTES` (1,000,000: a larger reply becomes `too-large`, a
  larger indication is dropped for that subscriber). The copies of one indication to
  one session, for all its subscriptions together, stop at `MAX_INDICATION_BYTES`
  (4,000,000): a session holding 100 subscriptions to a topic made daphne buffer 100
  copies of each indication, now the copy that would pass the bound closes it. Within
  `SEND_WINDOW_SECONDS` (10) a session is handed at most `SEND_WINDOW_BYTES`
  (16,000,000), a PBX's own connection `PBX_SEND_WINDOW_BYTES` (64,000,000); the frame
  that would pass it closes the session. Either close is code 4013 (a slow reader); the
  session's subscriptions end at once and what it was not handed is dropped (the
  indications counted in `dropped_indications()`). The rows "copies of one indication"
  and "send window" above run these; `tests/e2e/test_outgoing_limits.py` checks against
  a real daphne that one large reply or broadcast closes nobody.

So what daphne holds for one client that stops reading is at most `SEND_WINDOW_BYTES`
more per window: a client that also stops sending is dropped by the ping within
`--ping-interval` + `--ping-timeout` (50 s by default), after at most six windows' worth
(96 MB at the defaults, and only if the service really sends it that much); one that
keeps sending within `RATE_LIMIT` can go on for longer, at most 1.6 MB/s on average.
The budgets do not know whether the client reads: a client that reads fast but is sent
more than `SEND_WINDOW_BYTES` per window is closed as well — raise the budget for such an
App, not the limit for everyone.

One session runs one handler at a time, so a slow client costs one running handler at
most; its further frames wait in daphne's queue for that connection.

**Limits.**

- daphne restarts its ping clock on every frame it *receives*. A logged-in client that
  keeps sending within `RATE_LIMIT` and never reads is never pinged: its replies pile up
  for as long as it keeps sending, at up to `RATE_LIMIT` times the reply size per second
  (an `Echo` of 64 KiB at 40 requests per second grows daphne by about 2.5 MB/s).
- daphne reads and queues a connection's frames as fast as they arrive; appws counts
  them when it takes them from that queue. A client that sends as fast as its link
  allows keeps daphne busy parsing, its frames reach appws late, and the queue grows
  meanwhile: on loopback, one client sending small frames without logging in grew
  daphne by about 30 MB in the 10 s before its connection was closed. Anyone can do
  this, so limit connections per address in front of daphne (nginx `limit_conn`).
- In the same two experiments uvicorn (`--ws websockets`), which stops reading a
  connection whose application does not keep up, did not grow.

**On uvicorn** `send` applies back-pressure: it waits while the connection's write
buffer is above its high-water mark (64 KiB with `--ws websockets`). A client that stops
reading therefore stops its own session: the handler waits in `send`, uvicorn reads no
more of its frames, and its indications wait in its channel-layer channel until the
layer's capacity (100 by default) is reached, after which the layer drops them
(channels_redis's drops are logged and counted like appws's own). Memory stays at the
write buffer plus the frame in flight; the budgets still count what is handed over, so
they seldom trip there, and uvicorn's ping (`--ws-ping-interval`, `--ws-ping-timeout`)
ends a client that reads nothing at all. Other sessions are not held up.

Keep `RATE_LIMIT` as low as your Apps allow, keep replies small (page long lists), and
watch the process's memory.
"""

BADGE_CALLS = """\
## Badge calls

A service with `badge_apps` answers the PBX's presence-subscribe calls
([pbx.md](pbx.md#badge-counts)). What decides who gets a badge call answered, tested in
`tests/integration/test_pbx_badges.py` (the table above has the user's-session case):

- Only a PBX session does: a login of kind `pbx` (the App object itself) whose `PbxInfo`
  lists `PbxSignal`. A user's or a password login's `PbxInfo` is refused, so its
  `Signaling` reaches the handlers like any message; a PBX without `PbxSignal` gets no
  `Register`, and its `Signaling` reaches the handlers too.
- Only a `setup` with a `presence_subscribe` facility, a caller (`cg.sip`) and the App
  object's own `sip` as the called party gets `conn`; any other is released (`rel`).
- A PBX session answers at most `MAX_BADGE_CALLS` calls (100,000); one more is released
  and logged. They are not counted against `MAX_SUBSCRIPTIONS`, which bounds what a
  client subscribes to.
- Counts come only from the site's own code (`get_badge`, `appws.badges`); no message a
  client sends sets one.
"""

BEFORE_LOGIN = """\
## Clients that know no password

Anyone can send frames before logging in, and one event loop serves every session of a
process: what a frame costs before login is what a stranger can make every session wait.
So before a successful login:

- a frame may be at most `MAX_LOGIN_MESSAGE_BYTES` (64 KiB; a PBX's `AppLogin`, the
  largest real one, is a few KiB) and hold at most `MAX_LOGIN_CONTAINERS` objects and
  arrays (1,024; each is an allocation the garbage collector then visits). Both, and
  `MAX_DEPTH`, are checked on the frame's text before it is parsed; a frame over a limit
  gets `too-large` or `too-deep` and is never parsed;
- verifying an `AppLogin` serialises `info` once (with Python's C encoder whenever its
  output is what `JSON.stringify` writes), hashes it once (twice only when the raw text
  of `info` differs from that form), and does neither for a digest that is not 64 hex
  digits or a login field that is not a string. The slow serialisation in Python (numbers
  with a fraction, array-index keys) stops after 4,096 characters; a longer `info` of that
  kind is checked against its raw text only, which is what every real peer hashed;
- all connections of a process that have not logged in share one budget,
  `LOGIN_BYTES_PER_SECOND` (1 MiB/s, bursts of four `MAX_LOGIN_MESSAGE_BYTES`): a frame
  that finds it spent waits, first come first served, on its own connection, and each
  client address (IPv6: each /64) has at most one frame in that queue. A frame refused
  by its size costs nothing. Logged-in sessions never wait on it, so strangers can take
  only that share of the process from them. The price is paid by logins: under such an
  attack a new login waits behind one frame of each attacking address (a few hundred
  milliseconds for a handful; attackers on hundreds of addresses can delay logins past
  `LOGIN_TIMEOUT`, which only limits in front of the servers can stop).

Tested against a real daphne in `tests/e2e/test_prelogin_attack.py`: four clients at once,
each connection sending a 1,000,000-byte frame of nested arrays, an `AppLogin` with 1,026
objects and arrays, two 64 KiB frames just within every limit (1,018 arrays nested 32 deep
and 15,833 numbers with a fraction; 7,389 array-index keys), then an `AppLogin` with a
wrong digest, while a logged-in session keeps sending `Echo`. The oversized frames must
get `too-large` ("the limit before login"), the frames within the limits `not-logged-in`,
each `AppLogin` `ok:false` and its socket closed with 4401; the logged-in session must get
every reply, in order. The test asserts what comes back, never how long it took: the same
frames, sent as fast as the server answers, are the bench's workload 8
([performance.md](performance.md)), which reports the logged-in session's p99 round trip
under attack against its p99 idle.

What a frame within the limits still costs is bounded by those limits and linear in its
size, not zero: the costliest takes about 5 ms of CPU on the bench machine, and a
logged-in session whose message arrives right behind one waits that long. The budget
keeps such waits rare: in workload 8 the logged-in session's p99 under attack stays
within about twice its idle p99. daphne's own reading of a frame happens before appws
sees it and is outside the budget (about 5 ms for a 1,000,000-byte frame): keep daphne's
`--websocket-max-message-size` no larger than your Apps need, and limit connections per
address in front of daphne. `LOGIN_FAILURE_LIMIT` already refuses an address's logins at
once (without verifying them) after ten failures.
"""


def _show_value(key: str, value: Any) -> str:
    if key == "errorText":  # checked by its start
        return json.dumps(value)[:-1] + '…"'
    if key != "mt" and isinstance(value, str) and len(value) > SHOWN_STRING:
        return json.dumps(value[:SHOWN_STRING])[:-1] + '…"'
    return json.dumps(value, separators=(",", ":"))


def show_reply(pattern: Mapping[str, Any]) -> str:
    members = [
        f"{json.dumps(key)}:{_show_value(key, value)}"
        for key, value in pattern.items()
        if value is not ABSENT
    ]
    return "`{" + ",".join(members) + "}`"


def show_effect(case: Case) -> str:
    if case.refused:
        effect = "handshake refused (HTTP 403)"
    elif case.close is not None:
        effect = f"socket closed, code {case.close}"
    else:
        effect = "connection stays open"
    return f"{effect}; {case.note}" if case.note else effect


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_table(cases: list[Case]) -> str:
    lines = ["| bad input | sent | reply | effect |", "|---|---|---|---|"]
    for case in cases:
        replies = " then ".join(show_reply(pattern) for pattern in case.replies) or "none"
        cells = (case.name, case.sent, replies, show_effect(case))
        lines.append("| " + " | ".join(_cell(cell) for cell in cells) + " |")
    return "\n".join(lines) + "\n"


def render() -> str:
    """The whole of docs/security.md, from the case list."""
    sections: dict[str, list[Case]] = {}
    for case in CASES:
        sections.setdefault(case.section, []).append(case)
    parts = [INTRO, "## Bad input → reply / effect\n"]
    for title, cases in sections.items():
        parts.append(f"### {title}\n\n{render_table(cases)}")
    parts.extend([BEFORE_LOGIN, SECRETS, LOGIN_JOIN, render_throttle(), SLOW_READERS, BADGE_CALLS])
    return "\n".join(parts)


async def _run_all() -> list[str]:
    from tests.security_cases import check, run_case

    failures = []
    for case in CASES:
        try:
            check(case, await run_case(case))
        except AssertionError as error:
            failures.append(f"{case.name}: {error}")
            print(f"FAIL {case.name}", file=sys.stderr)
        else:
            print(f"ok   {case.name}")
    return failures


def run_cases() -> list[str]:
    """Run every case on a throw-away test database; return the failures."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
    import django

    django.setup()
    from django.test.utils import (
        setup_databases,
        setup_test_environment,
        teardown_databases,
        teardown_test_environment,
    )

    # The cases capture what they check; tracebacks of the "handler raises" case
    # would only clutter the terminal.
    logging.getLogger("appws").propagate = False
    setup_test_environment()
    databases = setup_databases(verbosity=0, interactive=False)
    try:
        return asyncio.run(_run_all())
    finally:
        teardown_databases(databases, verbosity=0)
        teardown_test_environment()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--no-run", action="store_true", help="write the page without running the cases"
    )
    options = parser.parse_args()
    if not options.no_run:
        failures = run_cases()
        if failures:
            print("\n".join(failures), file=sys.stderr)
            print(f"{len(failures)} case(s) failed: {OUTPUT} not written", file=sys.stderr)
            return 1
    OUTPUT.write_text(render(), encoding="utf-8")
    print(f"wrote {OUTPUT.relative_to(ROOT)} ({len(CASES)} cases)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

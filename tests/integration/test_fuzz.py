"""Property-based fuzzing of the consumer through Channels' communicator.

Random frames before and after login — valid and invalid JSON, every JSON type
where an object is expected, wrong types for the envelope and for the fields of the
reserved messages, huge strings, deep nesting, odd unicode, binary frames — and
random AppLogin attempts. Whatever arrives:

- every reply is a JSON object with a string ``mt``;
- no exception escapes the consumer (the communicator would re-raise it);
- the connection still answers afterwards (only a refused AppLogin may close it,
  with its documented code);
- another logged-in session is still served and still gets its indications.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.core.cache import cache
from django.db import connections
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from appws import anotify, protocol
from appws.models import LiveSession
from appws.testing import AppwsCommunicator
from tests.security_cases import LOGIN_LIMIT
from tests.services import application

WAIT = 3.0  # generous: a frame of a third of a megabyte takes a moment to parse


def fuzz(examples: int) -> hypothesis_settings:
    """Hypothesis settings of these tests: few examples, so the file runs in seconds."""
    return hypothesis_settings(
        deadline=None,
        max_examples=examples,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        report_multiple_bugs=False,
    )


# -- strategies ---------------------------------------------------------------

ODD = [
    "\ud800",  # lone surrogates: only reachable through \udxxx escapes
    "\udfff",
    "\u2028",  # LINE SEPARATOR, PARAGRAPH SEPARATOR: JSON allows them, JavaScript once did not
    "\u2029",
    "\x00",
    "\u200f",  # RIGHT-TO-LEFT MARK, RIGHT-TO-LEFT OVERRIDE
    "\u202e",
    "\ufeff",
    "\uffff",
    "\U0001f600",
    '"',
    "\\",
]
# Lists of characters, joined: text(alphabet=...) would fold the odd ones into
# its own character set and rarely draw them.
characters = st.one_of(st.characters(), st.sampled_from(ODD))


def texts(max_size: int) -> st.SearchStrategy[str]:
    return st.lists(characters, max_size=max_size).map("".join)


small_text = texts(24)
huge_text = st.sampled_from([5_000, 70_000, 300_000]).map(lambda n: "x" * n)
strings = st.one_of(small_text, small_text, small_text, huge_text)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**60), max_value=10**60),
    st.floats(allow_nan=False, allow_infinity=False),
    strings,
)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(small_text, children, max_size=4)
    ),
    max_leaves=10,
)

URLS = [
    "http://[",
    "http://[::1/apps/x.htm",
    "https://a]b/apps/notes.htm",
    "http://\uff03@x/notes.htm",
    "https://pbx.example.com/apps/0f0f/notes.htm?x=1#y",
    "notes.htm",
    "//",
    "",
]
RESERVED_FIELDS = {
    "url": st.one_of(st.sampled_from(URLS), st.sampled_from(URLS), json_values),
    "app": st.one_of(st.sampled_from(["notes", "notes-admin", "echo", ""]), json_values),
    "domain": st.one_of(st.just(""), json_values),
    "challenge": st.one_of(st.just("0123456789abcdef"), json_values),
    "digest": st.one_of(st.just("0" * 64), json_values),
    "info": json_values,
    "sip": json_values,
}
# The fields each reserved message reads, so that most of them are there.
RESERVED_MESSAGES = {
    "CheckBuild": ["url"],
    "AppInfo": ["app"],
    "AppCheckLogin": ["app", "domain", "challenge", "digest"],
    "PbxInfo": ["domain", "info"],
    "AppChallenge": ["app", "sip"],
    "KeepAlive": [],
}
COMMON_MTS = [
    "AppChallenge",
    "CheckBuild",
    "KeepAlive",
    "AppInfo",
    "PbxInfo",
    "AppCheckLogin",
    "Error",
    "ListNotes",
    "Echo",
    "Subscribe",
    "SubscribeEcho",
    "Crash",
    "Nope",
]
AFTER_LOGIN_MTS = [
    *COMMON_MTS,
    "AppLogin",
    "Fail",
    "SyncCrash",
    "Quiet",
    "Multi",
    "BadReturn",
    "Renamed",
    "Session",
    "Unsubscribe",
    "UnsubscribeEcho",
    "Broadcast",
    "DeleteNote",
    "MonitorStart",
]
RAW_FRAMES = [
    "",
    " ",
    "NaN",
    "-Infinity",
    '{"mt": "ListNotes", "n": NaN}',
    '{"mt": "Echo", "n": 1e400, "src": "big"}',
    '{"mt": "Echo", "n": -1e999}',
    '{"mt": "Echo", "n": ' + "9" * 5000 + "}",
    '{"mt": "AppChallenge"} trailing',
    '{"mt": "AppChallenge", "mt": "ListNotes"}',
    '\ufeff{"mt": "AppChallenge"}',
    '{"mt": "Echo", "s": "\\ud800\\udc00\\udbff"}',
    '{"mt": "Echo", "s": "\\u0000\\u2028"}',
    '{"mt": "Echo\\u0000"}',
    '{"mt": "Echo", "src": "\\ud800"}',
    '{"mt": "Echo", "s": "\\x41"}',
]


def encode(value: Any, ascii_only: bool) -> str:
    """JSON text as a client would send it; raw surrogates cannot cross the wire."""
    if not ascii_only:
        text = json.dumps(value, ensure_ascii=False)
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            pass
        else:
            return text
    return json.dumps(value)


def nested(depth: int, array: bool) -> str:
    opening, closing = ("[", "]") if array else ('{"a":', "}")
    return '{"mt":"Echo","x":' + opening * depth + "1" + closing * depth + "}"


@st.composite
def envelopes(draw: st.DrawFn, mts: list[str]) -> dict[str, Any]:
    message: dict[str, Any] = {}
    message["mt"] = draw(st.one_of(st.sampled_from(mts), small_text, json_values))
    if draw(st.booleans()):
        message["api"] = draw(st.one_of(st.sampled_from(["PbxSignal", "Nope"]), json_values))
    if draw(st.booleans()):
        message["src"] = draw(
            st.one_of(small_text, st.integers(250, 300).map(lambda n: "s" * n), json_values)
        )
    for name in draw(st.lists(st.sampled_from(sorted(RESERVED_FIELDS)), max_size=4)):
        message[name] = draw(RESERVED_FIELDS[name])
    if draw(st.booleans()):
        message["topic"] = draw(st.one_of(small_text, json_values))
    message.update(draw(st.dictionaries(small_text, json_values, max_size=3)))
    return message


def reserved_message(mt: str) -> st.SearchStrategy[dict[str, Any]]:
    fields = {name: RESERVED_FIELDS[name] for name in RESERVED_MESSAGES[mt]}
    # Every field there (often of the wrong type); envelopes() covers missing ones.
    return st.fixed_dictionaries(
        {"mt": st.just(mt), **fields}, optional={"src": small_text, "extra": json_values}
    )


reserved_messages = st.one_of(*(reserved_message(mt) for mt in RESERVED_MESSAGES))

Frame = tuple[str, Any]  # ("text", str) or ("bytes", bytes)


def frames(mts: list[str]) -> st.SearchStrategy[Frame]:
    text_frames = st.one_of(
        st.builds(encode, envelopes(mts), st.booleans()),
        st.builds(encode, reserved_messages, st.booleans()),
        st.builds(encode, reserved_messages, st.booleans()),
        st.builds(encode, json_values, st.booleans()),
        st.sampled_from(RAW_FRAMES),
        texts(40),
        st.builds(nested, st.integers(1, 3000), st.booleans()),
        st.builds(
            lambda text, cut: text[:cut],
            st.builds(encode, envelopes(mts), st.booleans()),
            st.integers(0, 60),
        ),
    )
    as_text = text_frames.map(lambda text: ("text", text))
    return st.one_of(
        as_text, as_text, as_text, st.binary(max_size=64).map(lambda data: ("bytes", data))
    )


def not_a_login(frame: Frame) -> bool:
    """Before login, leave AppLogin to its own test: a refused one closes by design."""
    kind, data = frame
    if kind != "text":
        return True
    try:
        message = json.loads(data)
    except (ValueError, RecursionError):
        return True
    return not (isinstance(message, dict) and message.get("mt") == "AppLogin")


# -- driving the communicator --------------------------------------------------


async def send_frame(comm: AppwsCommunicator, frame: Frame) -> None:
    kind, data = frame
    if kind == "text":
        await comm.send_input({"type": "websocket.receive", "text": data})
    else:
        await comm.send_input({"type": "websocket.receive", "bytes": data})


async def receive_output(comm: AppwsCommunicator) -> dict[str, Any]:
    """``comm.receive_output()``, but re-raising the consumer's exception at once.

    Channels' communicator only looks at the consumer after the whole timeout; a
    failing example would cost the timeout again at every shrinking step.
    """
    getting = asyncio.ensure_future(comm.output_queue.get())
    done, _ = await asyncio.wait(
        {getting, comm.future}, timeout=WAIT, return_when=asyncio.FIRST_COMPLETED
    )
    if getting in done:
        output: dict[str, Any] = getting.result()
        return output
    getting.cancel()
    if comm.future.done():
        comm.future.result()  # raises what the consumer raised
        raise AssertionError("the consumer ended without closing the socket")
    raise AssertionError(f"no reply within {WAIT} s")


async def next_reply(comm: AppwsCommunicator) -> dict[str, Any] | None:
    """The next reply, checked; None when the server closed the socket."""
    output = await receive_output(comm)
    if output["type"] == "websocket.close":
        return None
    assert output["type"] == "websocket.send", output
    assert output.get("bytes") is None, output
    reply = json.loads(output["text"])
    assert isinstance(reply, dict), reply
    assert isinstance(reply.get("mt"), str), reply
    return reply


async def answers(comm: AppwsCommunicator, probe: dict[str, Any]) -> dict[str, Any]:
    """Send ``probe`` (with src "probe"); check every reply up to its answer; return that."""
    await comm.send_json_to({**probe, "src": "probe"})
    while True:
        reply = await next_reply(comm)
        assert reply is not None, "the server closed the connection"
        if reply.get("src") == "probe" and reply["mt"] == f"{probe['mt']}Result":
            return reply


class Bystander:
    """A logged-in session on another App that must not notice anything."""

    async def __aenter__(self) -> Bystander:
        self.comm = AppwsCommunicator(application, "/apps/notes-admin")
        assert (await self.comm.login("notes-admin", "admin-secret"))["ok"] is True
        reply = await self.comm.request({"mt": "Subscribe", "topic": "fuzz-watch", "src": "w"})
        assert reply == {"mt": "SubscribeResult", "src": "w"}
        return self

    async def still_served(self) -> None:
        reply = await self.comm.request({"mt": "ListNotes", "src": "b"}, WAIT)
        assert reply == {"mt": "ListNotesResult", "notes": ["one", "two"], "src": "b"}
        await anotify("fuzz-watch", {"mt": "Tick"})
        assert await self.comm.receive_json_from(WAIT) == {"mt": "Tick", "src": "w"}

    async def __aexit__(self, *exc: object) -> None:
        await self.comm.disconnect()


async def isolated(body: Callable[[], Awaitable[None]], *, db: bool = False) -> None:
    """Run one example with a clean cache and channel layer (throttle counters, groups).

    Hypothesis seeds ``random`` alike for every example, so the in-memory layer hands
    out the same channel names again: rows an example left behind must go.
    """
    await cache.aclear()
    try:
        await body()
    finally:
        layer = get_channel_layer()
        if layer is not None and hasattr(layer, "flush"):
            await layer.flush()
        await cache.aclear()
        if db:
            await LiveSession.objects.all().adelete()
            # As conftest's _async_isolation does (hypothesis tests do not get it): a
            # connection left open in asgiref's thread trips later tests without a database.
            await sync_to_async(connections.close_all)()


async def open_comm(path: str) -> AppwsCommunicator:
    comm = AppwsCommunicator(application, path)
    connected, _ = await comm.connect(WAIT)
    assert connected
    comm._appws_connected = True
    return comm


@pytest.fixture
def build(settings: Any) -> None:
    """A configured build number, so that CheckBuild really parses URLs."""
    settings.APPWS = {**settings.APPWS, "BUILD": "0abc"}


# -- properties -------------------------------------------------------------


@fuzz(150)
@given(sent=st.lists(frames(COMMON_MTS).filter(not_a_login), max_size=10))
async def test_random_frames_before_login(build: None, sent: list[Frame]) -> None:
    async def body() -> None:
        async with Bystander() as bystander:
            comm = await open_comm("/apps/notes")
            try:
                for frame in sent:
                    await send_frame(comm, frame)
                reply = await answers(comm, {"mt": "AppChallenge"})
                assert len(reply["challenge"]) == 16
            finally:
                await comm.disconnect()
            await bystander.still_served()

    await isolated(body)


@fuzz(150)
@given(
    service=st.sampled_from(
        [
            ("/apps/notes", ("notes", "notes-secret"), {"mt": "ListNotes"}),
            ("/apps/echo", ("echo", "echo"), {"mt": "Echo", "alive": True}),
        ]
    ),
    sent=st.lists(frames(AFTER_LOGIN_MTS), max_size=12),
)
async def test_random_frames_after_login(
    build: None, service: tuple[str, tuple[str, str], dict[str, Any]], sent: list[Frame]
) -> None:
    path, login, probe = service

    async def body() -> None:
        async with Bystander() as bystander:
            comm = await open_comm(path)
            try:
                assert (await comm.login(*login, sip="fuzzer"))["ok"] is True
                for frame in sent:
                    await send_frame(comm, frame)
                reply = await answers(comm, probe)
                assert "error" not in reply, reply
            finally:
                await comm.disconnect()
            await bystander.still_served()

    await isolated(body)


# Without the largest strings: a login of several of them would exceed MAX_MESSAGE_BYTES.
small_values = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(min_value=-(10**60), max_value=10**60),
        st.floats(allow_nan=False, allow_infinity=False),
        small_text,
        st.sampled_from([5_000, 70_000]).map(lambda n: "x" * n),
    ),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(small_text, children, max_size=3)
    ),
    max_leaves=6,
)
# Colons where the digest's field join could be shifted: refused wherever ambiguous.
colon_text = st.sampled_from(["a:b", ":", "Bob:{x", "Room 1: desk", "::{}"])
login_values = st.one_of(st.none(), small_text, small_values, colon_text)


@st.composite
def login_attempts(draw: st.DrawFn) -> tuple[dict[str, Any], bool, bool]:
    """An AppLogin (without digest), whether to ask a challenge, whether to sign it right."""
    fields: dict[str, Any] = {
        "app": draw(st.one_of(st.sampled_from(["notes", "notes-admin", "echo", ""]), small_values))
    }
    for name in ("domain", "sip", "guid", "dn", "pbxObj", "info", "key", "lang"):
        if draw(st.booleans()):
            fields[name] = draw(login_values)
    if draw(st.booleans()):
        fields["info"] = draw(st.dictionaries(small_text, small_values, max_size=3))
    return fields, draw(st.booleans()), draw(st.booleans())


def _is_text(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def valid_login(fields: dict[str, Any]) -> bool:
    """Would a right digest over these fields log in on /apps/notes?"""
    strings = ("domain", "sip", "guid", "dn", "pbxObj")
    if not (
        fields.get("app") == "notes"
        and all(fields.get(name) is None or isinstance(fields[name], str) for name in strings)
        and (fields.get("info") is None or isinstance(fields["info"], dict))
    ):
        return False
    # A lone surrogate (a \udxxx escape without its pair) is no text: refused.
    if not all(_is_text(fields.get(name) or "") for name in strings):
        return False
    # A ':' that could shift the digest's field boundaries is refused.
    if any(":" in (fields.get(name) or "") for name in ("domain", "sip", "guid")):
        return False
    return (":" if fields.get("info") is None else ":{") not in (fields.get("dn") or "")


async def attempt_login(
    comm: AppwsCommunicator, fields: dict[str, Any], ask: bool, sign: bool
) -> tuple[dict[str, Any], bool]:
    """Send the AppLogin; return its result and whether it had to succeed."""
    challenge = (await answers(comm, {"mt": "AppChallenge"}))["challenge"] if ask else None
    message = {"mt": "AppLogin", **fields}
    must_succeed = False
    if sign and challenge is not None:
        try:
            message["digest"] = protocol.login_digest(fields, challenge, "notes-secret")
            must_succeed = valid_login(fields)
        except (TypeError, ValueError):
            message["digest"] = "0" * 64
    # A client that signs info as JSON.stringify writes it also sends it so (as the
    # vendor's clients and appws.client do): protocol.encode_login.
    frame = protocol.encode_login(message) if must_succeed else json.dumps(message)
    await comm.send_to(text_data=frame)
    reply = await next_reply(comm)
    if (
        len(frame.encode("utf-8", "surrogatepass")) > LOGIN_LIMIT
    ):  # send_json_to writes ASCII: chars are bytes
        # Refused unread, before any login work: the connection stays, as after any Error.
        assert reply is not None and reply["mt"] == "Error", reply
        assert reply["error"] == "too-large", reply
        return reply, False
    assert reply is not None and reply["mt"] == "AppLoginResult", reply
    assert isinstance(reply["ok"], bool) and "error" not in reply, reply
    return reply, must_succeed


async def check_login_outcome(
    comm: AppwsCommunicator, fields: dict[str, Any], reply: dict[str, Any], must_succeed: bool
) -> None:
    if reply["mt"] == "Error":
        assert (await answers(comm, {"mt": "AppChallenge"}))["mt"] == "AppChallengeResult"
        return
    if must_succeed:
        assert reply["ok"] is True, reply
    if reply["ok"]:
        session = await answers(comm, {"mt": "Session"})
        for name in ("domain", "sip", "guid", "dn"):
            assert session[name] == (fields.get(name) or "")
        assert session["info"] == fields.get("info")
    else:
        assert isinstance(reply["errorText"], str) and reply["errorText"]
        await assert_closed(comm)


async def assert_closed(comm: AppwsCommunicator) -> None:
    """A refused login closes the socket: 4401, or 4429 when throttled."""
    output = await receive_output(comm)
    assert output["type"] == "websocket.close", output
    assert output["code"] in (4401, 4429), output


@fuzz(100)
@given(attempt=login_attempts())
async def test_random_login_attempts(attempt: tuple[dict[str, Any], bool, bool]) -> None:
    fields, ask, sign = attempt

    async def body() -> None:
        async with Bystander() as bystander:
            comm = await open_comm("/apps/notes")
            try:
                reply, must_succeed = await attempt_login(comm, fields, ask, sign)
                await check_login_outcome(comm, fields, reply, must_succeed)
            finally:
                await comm.disconnect()
            await bystander.still_served()

    await isolated(body)


login_text = texts(12)


@pytest.mark.django_db(transaction=True)
@fuzz(30)
@given(sip=login_text, dn=login_text, domain=login_text)
async def test_odd_names_with_live_sessions_and_user_mapping(
    settings: Any, sip: str, dn: str, domain: str
) -> None:
    """Right logins with odd names, stored as LiveSession rows and mapped to users."""
    settings.APPWS = {**settings.APPWS, "TRACK_SESSIONS": True, "MAP_USERS": True}
    fields = {"app": "notes", "sip": sip, "dn": dn, "domain": domain}

    async def body() -> None:
        async with Bystander() as bystander:
            comm = await open_comm("/apps/notes")
            try:
                reply, _ = await attempt_login(comm, fields, True, True)
                # Refusing such a name is acceptable; crashing on it is not.
                if reply["ok"]:
                    await check_login_outcome(comm, fields, reply, True)
                else:
                    await assert_closed(comm)
            finally:
                await comm.disconnect()
            await bystander.still_served()

    await isolated(body, db=True)

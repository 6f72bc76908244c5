"""Login digest, challenge and verify_login (docs/protocol.md)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest

from appws.protocol import (
    CHALLENGE_LENGTH,
    LOGIN_FIELDS,
    js_stringify,
    login_digest,
    new_challenge,
    raw_member_text,
    verify_login,
)

CHALLENGE = "0123456789abcdef"
PASSWORD = "pwd"

USERS_INFO = {
    "appobj": "users",
    "apps": [{"name": "users"}, {"name": "profile"}],
    "appurl": "https://1.2.3.4/example.com/usersapp/innovaphone-users",
    "unlicensed": True,
}

VECTORS: list[tuple[dict[str, Any], str]] = [
    (
        {"app": "pbxadminapi"},
        "a205299ed2ef2786c311e0be1b14db343f2cadd906a6ae7b564eee34bda5e9a1",
    ),
    (
        {"app": "pbxadminapi", "info": {}},
        "57b23fe824b9222a7ac879597cb509bcdc865a1bfeb057d9d12118cef0c3ba34",
    ),
    (
        {"app": "pbxadminapi", "info": {"cn": "Test User"}},
        "96db3c3f657230c2b68194becc6d2a77f05de9f79f01fc81e9ca0fb196b10d9d",
    ),
    (
        {
            "app": "innovaphone-users",
            "domain": "example.com",
            "sip": "administrator",
            "guid": "0123456789abcdef0123456789abcdef",
            "dn": "Administrator User",
            "info": USERS_INFO,
        },
        "ef1b811ffaa8f9255c39c653d8fb26b4687b2d8c4d9ac91b4821bff6bae3ff44",
    ),
]


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@pytest.mark.parametrize(("message", "digest"), VECTORS)
def test_vendor_vectors(message: dict[str, Any], digest: str) -> None:
    assert login_digest(message, CHALLENGE, PASSWORD) == digest


@pytest.mark.parametrize(("message", "digest"), VECTORS)
def test_vendor_vectors_verify(message: dict[str, Any], digest: str) -> None:
    assert verify_login({**message, "digest": digest}, CHALLENGE, PASSWORD)
    assert not verify_login({**message, "digest": digest}, CHALLENGE, "other")
    assert not verify_login({**message, "digest": digest}, "1" * 16, PASSWORD)


def test_vector_survives_a_json_round_trip() -> None:
    message, digest = VECTORS[3]
    frame = json.dumps({"mt": "AppLogin", **message, "digest": digest}, indent=2)
    assert verify_login(json.loads(frame), CHALLENGE, PASSWORD, frame_text=frame)


def test_login_fields() -> None:
    assert LOGIN_FIELDS == ("app", "domain", "sip", "guid", "dn")


@pytest.mark.parametrize(
    "message",
    [
        {"app": "x"},
        {"app": "x", "domain": None, "sip": None, "guid": None, "dn": None},
        {"app": "x", "domain": "", "sip": "", "guid": "", "dn": ""},
    ],
)
def test_missing_none_and_empty_fields_are_equal(message: dict[str, Any]) -> None:
    assert login_digest(message, CHALLENGE, PASSWORD) == sha256_hex("x:::::" + CHALLENGE + ":pwd")


def test_no_fields_at_all() -> None:
    assert login_digest({}, "c", "p") == sha256_hex(":::::c:p")


def test_info_absent_or_none_drops_field_and_colon() -> None:
    absent = login_digest({"app": "a"}, "c", "p")
    assert absent == sha256_hex("a:::::c:p")
    assert login_digest({"app": "a", "info": None}, "c", "p") == absent
    assert login_digest({"app": "a", "info": {}}, "c", "p") == sha256_hex("a:::::{}:c:p")


def test_ignored_fields_are_not_hashed() -> None:
    extra = {"app": "a", "mt": "AppLogin", "src": "s", "pbxObj": "a", "key": "k", "lang": "de"}
    assert login_digest(extra, "c", "p") == login_digest({"app": "a"}, "c", "p")


def test_info_is_hashed_in_javascript_form() -> None:
    info = {"z": 1.0, "1": "/é\u2028", "a": -0.0}
    expected = sha256_hex('a:::::{"1":"/é\u2028","z":1,"a":0}:c:p')
    assert login_digest({"app": "a", "info": info}, "c", "p") == expected


def test_info_text_is_used_verbatim() -> None:
    digest = login_digest({"app": "a"}, "c", "p", info_text='{ "x" : 1.50 }')
    assert digest == sha256_hex('a:::::{ "x" : 1.50 }:c:p')
    assert login_digest({"app": "a", "info": {"y": 2}}, "c", "p", info_text="") == sha256_hex(
        "a::::::c:p"
    )


@pytest.mark.parametrize("field", LOGIN_FIELDS)
@pytest.mark.parametrize("value", [1, 1.5, True, [], {}])
def test_non_string_field_raises(field: str, value: Any) -> None:
    with pytest.raises(TypeError, match=field):
        login_digest({field: value}, "c", "p")


def test_lone_surrogate_does_not_raise() -> None:
    message = {"app": "\ud800", "info": {"k": "\udfff"}}
    digest = login_digest(message, "c", "p")
    assert len(digest) == 64
    assert verify_login({**message, "digest": digest}, "c", "p")


# -- verify_login ------------------------------------------------------------


def test_verify_accepts_uppercase_digest() -> None:
    message, digest = VECTORS[2]
    assert verify_login({**message, "digest": digest.upper()}, CHALLENGE, PASSWORD)


@pytest.mark.parametrize(
    "digest",
    [None, 5, ["x"], {"a": 1}, "", "0" * 64, "é" * 64, "a205299ed2ef2786c311e0be1b14db34"],
)
def test_verify_refuses_bad_digests(digest: Any) -> None:
    message: dict[str, Any] = {"app": "pbxadminapi"}
    if digest is not None:
        message["digest"] = digest
    assert verify_login(message, CHALLENGE, PASSWORD) is False


def test_verify_refuses_non_ascii_lookalike() -> None:
    message, digest = VECTORS[0]
    # U+0430 CYRILLIC SMALL LETTER A in place of "a".
    assert not verify_login({**message, "digest": digest.replace("a", "\u0430")}, "c", "p")


@pytest.mark.parametrize("bad", [{"app": 1}, {"sip": ["x"]}, {"dn": {"a": 1}}])
def test_verify_returns_false_on_bad_field_types(bad: dict[str, Any]) -> None:
    assert verify_login({**bad, "digest": "0" * 64}, "c", "p") is False
    assert verify_login({**bad, "digest": "0" * 64}, "c", "p", frame_text="{}") is False


def test_verify_tolerates_any_frame_text() -> None:
    message = {"app": "a", "info": {"x": 1}, "digest": "0" * 64}
    for frame in ["", "[", "{", '{"info":', "[1]", "nonsense", '{"info":1} x']:
        assert verify_login(message, "c", "p", frame_text=frame) is False


# -- the raw-info alternative ------------------------------------------------

RAW_INFO = '{"price": 1.50,\n "note": "x\\u2028y"}'


def raw_frame(raw_info: str, digest: str) -> str:
    return '{"mt":"AppLogin","app":"a","sip":"s","info":' + raw_info + ',"digest":"' + digest + '"}'


def test_raw_info_digest_accepted_only_with_frame_text() -> None:
    digest = sha256_hex("a::s:::" + RAW_INFO + ":" + CHALLENGE + ":" + PASSWORD)
    frame = raw_frame(RAW_INFO, digest)
    message = json.loads(frame)
    # The canonical form differs: 1.5 instead of 1.50 and a literal U+2028.
    assert js_stringify(message["info"]) != RAW_INFO
    assert verify_login(message, CHALLENGE, PASSWORD, frame_text=frame)
    assert not verify_login(message, CHALLENGE, PASSWORD)
    assert not verify_login(message, CHALLENGE, "wrong", frame_text=frame)


def test_digest_over_other_raw_text_refused() -> None:
    other = '{"price":1.50,"note":"x\\u2028y"}'
    digest = sha256_hex("a::s:::" + other + ":" + CHALLENGE + ":" + PASSWORD)
    frame = raw_frame(RAW_INFO, digest)
    assert not verify_login(json.loads(frame), CHALLENGE, PASSWORD, frame_text=frame)


def test_canonical_digest_still_accepted_with_frame_text() -> None:
    message = json.loads(raw_frame(RAW_INFO, ""))
    message["digest"] = login_digest(message, CHALLENGE, PASSWORD)
    frame = raw_frame(RAW_INFO, message["digest"])
    assert verify_login(message, CHALLENGE, PASSWORD, frame_text=frame)


def test_raw_info_not_used_when_info_is_null() -> None:
    frame = raw_frame("null", sha256_hex("a::s:::null:c:p"))
    assert not verify_login(json.loads(frame), "c", "p", frame_text=frame)


# -- raw_member_text ---------------------------------------------------------


@pytest.mark.parametrize(
    ("frame", "expected"),
    [
        ('{"info":{"a": [1, 2 ]}}', '{"a": [1, 2 ]}'),
        (' \n{ "mt" : "x" ,\t"info" :  1.50  } \r\n', "1.50"),
        ('{"info":1,"info":"two"}', '"two"'),
        ('{"\\u0069nfo":true}', "true"),
        ('{"x":{"info":1}}', None),
        ('{"x":["info"]}', None),
        ("{}", None),
        ("[]", None),
        ('"info"', None),
        ("", None),
        ("{", None),
        ('{"info":1', None),
        ('{"info":1,}', None),
        ('{"info":1} trailing', None),
        ('{"info":NaN}', None),
        ('{"info" 1}', None),
        ("{info:1}", None),
        ('{"info":"\x01"}', None),
        ('{"info":"\\ud800"}', '"\\ud800"'),
        ('{"info":null}', "null"),
    ],
)
def test_raw_member_text(frame: str, expected: str | None) -> None:
    assert raw_member_text(frame, "info") == expected


def test_raw_member_text_deep_nesting_is_none_or_text() -> None:
    deep = '{"info":' + "[" * 100_000 + "]" * 100_000 + "}"
    assert raw_member_text(deep, "info") is None


# -- challenge ---------------------------------------------------------------


def test_new_challenge() -> None:
    challenges = {new_challenge() for _ in range(50)}
    assert len(challenges) > 1
    for challenge in challenges:
        assert len(challenge) == CHALLENGE_LENGTH == 16
        assert challenge.isascii() and challenge.isdigit()


# -- what verifying one login costs ----------------------------------------------


class Work:
    """Counts of what verify_login does: serialising info, scanning the frame, hashing."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        from appws.protocol import login

        self.stringified = 0
        self.scanned = 0
        self.hashed_bytes: list[int] = []
        stringify, scan, sha256 = login.js_stringify, login.raw_member_text, hashlib.sha256
        stringify_within = login.js_stringify_within
        #: The length of each canonical text the slow walk gave up on (None: finished).
        self.walk_limits: list[int] = []

        def counted_stringify(value: Any) -> str:
            self.stringified += 1
            return stringify(value)

        def counted_stringify_within(value: Any, limit: int) -> str | None:
            self.stringified += 1
            self.walk_limits.append(limit)
            return stringify_within(value, limit)

        def counted_scan(frame: str, key: str) -> str | None:
            self.scanned += 1
            return scan(frame, key)

        def counted_sha256(data: bytes = b"") -> Any:
            self.hashed_bytes.append(len(data))
            return sha256(data)

        monkeypatch.setattr(login, "js_stringify", counted_stringify)
        monkeypatch.setattr(login, "js_stringify_within", counted_stringify_within)
        monkeypatch.setattr(login, "raw_member_text", counted_scan)
        monkeypatch.setattr(login.hashlib, "sha256", counted_sha256)


def login_frame(info: Any, digest: str) -> tuple[dict[str, Any], str]:
    frame = json.dumps({"mt": "AppLogin", "app": "a", "info": info, "digest": digest})
    return json.loads(frame), frame


def test_a_login_serialises_and_hashes_info_once(monkeypatch: pytest.MonkeyPatch) -> None:
    work = Work(monkeypatch)
    # Written as JSON.stringify writes it, so the raw text is the canonical one.
    info = {"cn": "x" * 1000, "apps": [{"name": "users"}]}
    message, frame = login_frame(info, "0" * 64)
    frame = frame.replace(": ", ":").replace(", ", ",")
    assert verify_login(message, "c", "p", frame_text=frame) is False
    assert (work.stringified, work.scanned, len(work.hashed_bytes)) == (1, 1, 1)


def test_a_differing_raw_info_is_hashed_once_more(monkeypatch: pytest.MonkeyPatch) -> None:
    work = Work(monkeypatch)
    message, frame = login_frame({"price": 1.50}, "0" * 64)
    assert verify_login(message, "c", "p", frame_text=frame) is False
    assert (work.stringified, work.scanned, len(work.hashed_bytes)) == (1, 1, 2)
    assert sum(work.hashed_bytes) < 2 * len(frame)


@pytest.mark.parametrize(
    "digest",
    [None, 5, "", "x", "0" * 63, "0" * 65, "g" * 64, "0" * 63 + "\u0660", "é" * 64],
)
def test_a_digest_that_cannot_match_costs_nothing(
    monkeypatch: pytest.MonkeyPatch, digest: Any
) -> None:
    work = Work(monkeypatch)
    message, frame = login_frame({"k": list(range(1000))}, "")
    message["digest"] = digest
    assert verify_login(message, "c", "p", frame_text=frame) is False
    assert (work.stringified, work.scanned, work.hashed_bytes) == (0, 0, [])


@pytest.mark.parametrize("bad", [{"app": 1}, {"sip": ["x"]}, {"dn": {"a": 1}}])
def test_a_field_of_the_wrong_type_costs_nothing(
    monkeypatch: pytest.MonkeyPatch, bad: dict[str, Any]
) -> None:
    work = Work(monkeypatch)
    message, frame = login_frame({"k": list(range(1000))}, "0" * 64)
    assert verify_login({**message, **bad}, "c", "p", frame_text=frame) is False
    assert (work.stringified, work.scanned, work.hashed_bytes) == (0, 0, [])


def test_a_long_info_that_needs_the_slow_walk_is_checked_by_its_raw_text(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from appws.protocol import login

    # Array-index keys and fractions: the C encoder cannot write them as JavaScript does.
    info = {str(n): n + 0.5 for n in range(2000)}
    message, frame = login_frame(info, "")
    raw = login.raw_member_text(frame, "info")
    assert raw is not None and len(raw) > login.SLOW_INFO_CHARS
    message["digest"] = login_digest({"app": "a"}, "c", "p", info_text=raw)
    walked: list[int] = []
    walk = login.js_stringify_within

    def counted(value: Any, limit: int) -> str | None:
        text = walk(value, limit)
        walked.append(-1 if text is None else len(text))
        return text

    monkeypatch.setattr(login, "js_stringify_within", counted)
    assert verify_login(message, "c", "p", frame_text=frame) is True  # the raw text counts
    assert walked == [-1]  # the canonical form was given up on, not worked out
    # A digest over the canonical form of so long an info is not checked for.
    message["digest"] = login_digest(message, "c", "p")
    assert verify_login(message, "c", "p", frame_text=frame) is False
    # Without a frame (a caller holding only the dict) the canonical form still counts.
    assert verify_login(message, "c", "p") is True


def test_a_short_info_that_needs_the_slow_walk_still_gets_its_canonical_check() -> None:
    message, frame = login_frame({"0": 1.50, "cn": "x"}, "")
    message["digest"] = login_digest(message, "c", "p")
    assert verify_login(message, "c", "p", frame_text=frame) is True


def test_encode_login_writes_info_as_the_digest_hashes_it() -> None:
    from appws.protocol import encode_login, raw_member_text

    # Array-index keys, fractions, non-ASCII: Python's json would write them otherwise.
    info = {"b": 1.0, "1": "é", "0": [2e21, 1e-7]}
    message = {"mt": "AppLogin", "app": "a", "info": info, "digest": "0" * 64}
    frame = encode_login(message)
    assert raw_member_text(frame, "info") == js_stringify(info)
    assert json.loads(frame) == message
    assert encode_login({"mt": "AppLogin", "info": None}) == '{"mt":"AppLogin","info":null}'

"""AppChallenge / AppLogin: the challenge and the login digest (docs/protocol.md)."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
from collections.abc import Callable, Mapping
from json.decoder import scanstring as _untyped_scanstring  # type: ignore[attr-defined]
from typing import Any

from appws.protocol.envelope import encode_message
from appws.protocol.jsjson import js_stringify, js_stringify_within

__all__ = [
    "CHALLENGE_LENGTH",
    "LOGIN_FIELDS",
    "encode_login",
    "login_digest",
    "new_challenge",
    "raw_member_text",
    "verify_login",
]

CHALLENGE_LENGTH = 16
LOGIN_FIELDS = ("app", "domain", "sip", "guid", "dn")

_scanstring: Callable[[str, int, bool], tuple[str, int]] = _untyped_scanstring
_JSON_WHITESPACE = " \t\n\r"


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


_DECODER = json.JSONDecoder(parse_constant=_reject_constant)

# What a SHA-256 digest in hex looks like; nothing else can ever match one.
_HEX_DIGEST = re.compile(r"[0-9a-fA-F]{64}")
#: Longest canonical ``info`` text worked out by the slow walk (fractions, array-index
#: keys: values the C encoder cannot write as JavaScript does). Beyond it only the raw
#: text of ``info`` counts: what the sender hashed is what it sent, for every real peer,
#: and real ``info`` objects are a few KiB of names and flags that never need the walk.
SLOW_INFO_CHARS = 4096


def new_challenge() -> str:
    """Return a fresh challenge: 16 random decimal digits."""
    return f"{secrets.randbelow(10**CHALLENGE_LENGTH):0{CHALLENGE_LENGTH}d}"


def _field(message: Mapping[str, Any], name: str) -> str:
    value = message.get(name)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise TypeError(f"login field {name!r} must be a string, not {type(value).__name__}")
    return value


def login_digest(
    message: Mapping[str, Any],
    challenge: str,
    password: str,
    *,
    info_text: str | None = None,
) -> str:
    """Return the lowercase hex SHA-256 digest an AppLogin for ``message`` must carry.

    ``info_text`` replaces the canonical ``JSON.stringify`` form of ``info`` verbatim.
    Raises ``TypeError`` if one of ``LOGIN_FIELDS`` holds a non-string.
    """
    parts = [_field(message, name) for name in LOGIN_FIELDS]
    if info_text is not None:
        parts.append(info_text)
    elif message.get("info") is not None:
        parts.append(js_stringify(message["info"]))
    parts.append(challenge)
    parts.append(password)
    # surrogatepass: a lone surrogate from a client's \udxxx escape must not raise here.
    data = ":".join(parts).encode("utf-8", "surrogatepass")
    return hashlib.sha256(data).hexdigest()


def _skip_whitespace(text: str, index: int) -> int:
    while index < len(text) and text[index] in _JSON_WHITESPACE:
        index += 1
    return index


def _scan_member(text: str, key: str) -> str | None:
    index = _skip_whitespace(text, 0)
    if text[index] != "{":
        return None
    index = _skip_whitespace(text, index + 1)
    found: str | None = None
    if text[index] == "}":
        index += 1
    else:
        while True:
            if text[index] != '"':
                return None
            name, index = _scanstring(text, index + 1, True)
            index = _skip_whitespace(text, index)
            if text[index] != ":":
                return None
            start = _skip_whitespace(text, index + 1)
            _, end = _DECODER.raw_decode(text, start)
            if name == key:
                found = text[start:end]  # later duplicates win, as in json.loads
            index = _skip_whitespace(text, end)
            if text[index] == "}":
                index += 1
                break
            if text[index] != ",":
                return None
            index = _skip_whitespace(text, index + 1)
    if _skip_whitespace(text, index) != len(text):
        return None
    return found


def raw_member_text(frame_text: str, key: str) -> str | None:
    """Return the source text of top-level member ``key`` of a JSON object frame.

    None when the member is absent or the frame is not a JSON object.
    """
    try:
        return _scan_member(frame_text, key)
    except (ValueError, IndexError, RecursionError):
        # ValueError covers JSONDecodeError; IndexError is running off the end of the text.
        return None


def _info_texts(message: Mapping[str, Any], frame_text: str | None) -> list[str | None]:
    """The texts of ``info`` a digest may be over: canonical, then raw; [None] if absent.

    Each is computed once, the raw text counted only when it differs from the canonical
    one, and the canonical one left out when only a long walk in Python could give it.
    """
    info = message.get("info")
    if info is None:
        return [None]
    raw = raw_member_text(frame_text, "info") if frame_text is not None else None
    canonical = js_stringify(info) if raw is None else js_stringify_within(info, SLOW_INFO_CHARS)
    texts: list[str | None] = [text for text in (canonical, raw) if text is not None]
    return texts if len(texts) < 2 or texts[0] != texts[1] else texts[:1]


def verify_login(
    message: Mapping[str, Any],
    challenge: str,
    password: str,
    *,
    frame_text: str | None = None,
) -> bool:
    """Check an AppLogin's ``digest`` in constant time; never raises on message content.

    Accepts the canonical digest, and, when ``info`` is present and ``frame_text`` is given,
    also a digest over the raw text ``info`` had in that frame. A digest that is not 64
    hex digits, or a login field that is not a string, is refused before ``info`` is
    serialised or anything hashed: what a login costs the server is bounded by its size.
    """
    digest = message.get("digest")
    if not isinstance(digest, str) or not _HEX_DIGEST.fullmatch(digest):
        return False
    given = digest.lower().encode("ascii")
    try:
        for name in LOGIN_FIELDS:
            _field(message, name)  # raises TypeError before any costly work
        expected = [
            login_digest(message, challenge, password, info_text=text)
            for text in _info_texts(message, frame_text)
        ]
    except (TypeError, ValueError):
        return False
    # Compare against every candidate so the time taken does not tell which one matched.
    results = [hmac.compare_digest(given, candidate.encode("ascii")) for candidate in expected]
    return any(results)


def encode_login(message: Mapping[str, Any]) -> str:
    """Encode an ``AppLogin`` frame with ``info`` written as ``JSON.stringify`` writes it.

    The text of ``info`` in the frame is then the text its digest covers, so the server
    can check the digest over what it received, however long ``info`` is.
    """
    info = message.get("info")
    if info is None:
        return encode_message(message)
    rest = encode_message({key: value for key, value in message.items() if key != "info"})
    return f'{rest[:-1]},"info":{js_stringify(info)}}}'

"""Serialise JSON values byte for byte the way JavaScript's ``JSON.stringify`` does.

The AppLogin digest hashes the ``info`` object as the client's JavaScript wrote it, so the
server must reproduce that text from the value ``json.loads`` gave it.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any

__all__ = ["JSON_STRING", "js_stringify", "js_stringify_within"]

#: A JSON string literal in JSON text, escapes included. A string left open runs to the
#: end of the text: without that, every later '"' would start a new scan to the end, and
#: a frame of escaped quotes with no closing one would cost time quadratic in its length.
JSON_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*(?:"|\\?\Z)', re.DOTALL)

_MAX_ARRAY_INDEX = 2**32 - 2
_EXACT_INT_LIMIT = 2**53

_SHORT_ESCAPES = {
    '"': '\\"',
    "\\": "\\\\",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
}

# A high+low surrogate pair held as two code points is one character to JavaScript (strings
# are UTF-16 there), so it must come out as that character, not as two escapes.
_NEEDS_ESCAPE = re.compile('[\ud800-\udbff][\udc00-\udfff]|[\x00-\x1f"\\\\\ud800-\udfff]')


class _Literal(str):
    """Output text queued on the work stack, as opposed to a value still to serialise."""

    __slots__ = ()


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    if len(char) == 2:
        high, low = ord(char[0]), ord(char[1])
        return chr(0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00))
    short = _SHORT_ESCAPES.get(char)
    if short is not None:
        return short
    return f"\\u{ord(char):04x}"


def _quote(text: str) -> str:
    return '"' + _NEEDS_ESCAPE.sub(_escape, text) + '"'


def _format_float(value: float) -> str:
    """Lay out a finite float as ECMAScript Number::toString(10) does."""
    if value == 0:
        return "0"  # covers -0.0, which JavaScript prints without a sign
    plain = repr(value)
    if "e" not in plain:
        # Python writes 1e-4 <= |value| < 1e16 without an exponent; JavaScript writes
        # that range the same way, with the same (shortest) digits, but "1" for 1.0.
        return plain[:-2] if plain.endswith(".0") else plain
    sign = "-" if value < 0 else ""
    # repr() gives the shortest round-trip digits, the same digits JavaScript picks.
    text = repr(abs(value))
    mantissa, _, exp_text = text.partition("e")
    whole, _, fraction = mantissa.partition(".")
    digits = whole + fraction
    point = len(whole) + (int(exp_text) if exp_text else 0)
    stripped = digits.lstrip("0")
    point -= len(digits) - len(stripped)
    digits = stripped.rstrip("0")
    # In the spec's terms: k = number of digits, n = position of the decimal point.
    k, n = len(digits), point
    if k <= n <= 21:
        return sign + digits + "0" * (n - k)
    if 0 < n <= 21:
        return sign + digits[:n] + "." + digits[n:]
    if -6 < n <= 0:
        return sign + "0." + "0" * -n + digits
    exponent = n - 1
    exp_part = ("e+" if exponent >= 0 else "e-") + str(abs(exponent))
    if k == 1:
        return sign + digits + exp_part
    return sign + digits[0] + "." + digits[1:] + exp_part


def _format_number(value: int | float) -> str:
    if isinstance(value, int):
        if -_EXACT_INT_LIMIT < value < _EXACT_INT_LIMIT:
            return str(value)
        try:
            # JavaScript parses every number literal to a double; Python rounds an int to a
            # double the same way (round half to even), and overflows exactly where JS gets
            # Infinity.
            value = float(value)
        except OverflowError:
            return "null"
    if not math.isfinite(value):
        return "null"
    return _format_float(value)


def _is_array_index(key: str) -> bool:
    if not key.isascii() or not key.isdigit():
        return False
    if len(key) > 1 and key[0] == "0":
        return False
    return int(key) <= _MAX_ARRAY_INDEX


def _ordered_keys(mapping: Mapping[Any, Any]) -> list[str]:
    """Keys in JavaScript's own-property order: array indexes ascending, then the rest."""
    # Keys only, no (key, value) pairs: every tuple kept would be one more object for
    # the garbage collector to visit, and an info can have thousands of keys.
    keys = list(mapping)
    for key in keys:
        if not isinstance(key, str):
            raise TypeError(f"object keys must be strings, not {type(key).__name__}")
    indexes = [key for key in keys if _is_array_index(key)]
    if not indexes:
        return keys
    indexes.sort(key=int)
    chosen = set(indexes)
    return indexes + [key for key in keys if key not in chosen]


# Python's own (C) encoder writes what JSON.stringify writes, except for what these find
# in its output: numbers with a fraction or exponent, or of 16 digits or more (at and
# above 2**53; searched for outside strings), keys JavaScript orders first (array
# indexes) or that were not strings (Python writes True as "true", 1.5 as "1.5"...),
# and surrogates (JavaScript escapes a lone one, joins a pair held as two).
_C_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)
_JS_NUMBER = re.compile(r"[0-9][.eE]|[0-9]{16}")
_JS_KEY = re.compile(r'"(?:-?[0-9][0-9.eE+-]*|true|false|null|-?Infinity|NaN)":')
_SURROGATE = re.compile("[\ud800-\udfff]")


def _stringify_in_c(value: Any) -> str | None:
    """The ``JSON.stringify`` text from the C encoder, or None where it may differ."""
    try:
        text = _C_ENCODER.encode(value)
    except (TypeError, ValueError, RecursionError):
        return None  # left to the walk, which raises or writes null as JavaScript does
    if _SURROGATE.search(text) or _JS_KEY.search(text):
        return None
    if _JS_NUMBER.search(JSON_STRING.sub("", text)):
        return None
    return text


def js_stringify(value: Any) -> str:
    """Return the text ``JSON.stringify`` writes for a value produced by ``json.loads``."""
    # Most values (and every real AppLogin info) take the C encoder: a login costs the
    # server the same few passes over the text, however the info is shaped.
    text = _stringify_in_c(value)
    if text is None:
        text = _stringify_by_walk(value)
        assert text is not None  # no limit: the walk always finishes
    return text


def js_stringify_within(value: Any, limit: int) -> str | None:
    """:func:`js_stringify`, or None where that needs the walk and its text exceeds ``limit``.

    The walk in Python costs about ten times what the C encoder does; a caller that must
    bound its work per message (a login before the password is known) sets the bound.
    """
    text = _stringify_in_c(value)
    return text if text is not None else _stringify_by_walk(value, limit)


def _stringify_by_walk(value: Any, limit: int | None = None) -> str | None:
    parts: list[str] = []
    length = 0
    # An explicit stack instead of recursion: json.loads accepts nesting deep enough to
    # exhaust Python's recursion limit in a recursive serialiser.
    todo: list[Any] = [value]
    while todo:
        if limit is not None and length > limit:
            return None  # the caller's budget is spent: stop paying for a long walk
        item = todo.pop()
        if isinstance(item, _Literal):
            parts.append(item)
        elif item is None:
            parts.append("null")
        elif item is True:
            parts.append("true")
        elif item is False:
            parts.append("false")
        elif isinstance(item, str):
            parts.append(_quote(item))
        elif isinstance(item, (int, float)):
            parts.append(_format_number(item))
        elif isinstance(item, Mapping):
            # Each member writes at least '"":0,': bail out before ordering the keys.
            if limit is not None and length + 5 * len(item) > limit + 1:
                return None
            parts.append("{")
            todo.append(_Literal("}"))
            keys = _ordered_keys(item)
            for position in range(len(keys) - 1, -1, -1):
                key = keys[position]
                todo.append(item[key])
                todo.append(_Literal(("," if position else "") + _quote(key) + ":"))
        elif isinstance(item, (list, tuple)):
            if limit is not None and length + 2 * len(item) > limit + 1:
                return None
            parts.append("[")
            todo.append(_Literal("]"))
            for position in range(len(item) - 1, -1, -1):
                todo.append(item[position])
                if position:
                    todo.append(_Literal(","))
        else:
            raise TypeError(f"cannot serialise {type(item).__name__} as JSON")
        length += len(parts[-1])
    return "".join(parts)

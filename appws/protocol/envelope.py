"""Validating incoming text frames and encoding outgoing messages (docs/protocol.md)."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping
from typing import Any

from appws.protocol.brackets import Brackets

__all__ = [
    "DEFAULT_MAX_MESSAGE_BYTES",
    "MAX_NAME_LENGTH",
    "FrameError",
    "binary_frame_error",
    "decode_frame",
    "encode_frame",
    "encode_message",
    "with_src",
]

DEFAULT_MAX_MESSAGE_BYTES = 1024 * 1024
#: Longest ``mt`` and ``api``, in characters: names, echoed in every reply.
MAX_NAME_LENGTH = 256


class FrameError(Exception):
    """A frame the server cannot accept; ``code`` is machine-readable, ``text`` for people."""

    def __init__(self, code: str, text: str) -> None:
        super().__init__(text)
        self.code = code
        self.text = text

    def __str__(self) -> str:
        return self.text


class _ConstantError(ValueError):
    pass


def _reject_constant(name: str) -> Any:
    raise _ConstantError(name)


def _too_large(text: str, max_bytes: int) -> bool:
    # UTF-8 needs 1 to 4 bytes per code point, so only the middle range needs encoding.
    if len(text) > max_bytes:
        return True
    if len(text) * 4 <= max_bytes:
        return False
    return len(text.encode("utf-8", "surrogatepass")) > max_bytes


def _finite_float(text: str) -> float:
    # 1e999 parses to inf without passing through parse_constant; replies could
    # then not be encoded as JSON at all.
    value = float(text)
    if not math.isfinite(value):
        raise _ConstantError(text)
    return value


_DECODER = json.JSONDecoder(parse_constant=_reject_constant, parse_float=_finite_float)
# Non-ASCII text goes out as UTF-8: escaping it would inflate a frame up to six times.
_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False)
_SURROGATE = re.compile("[\ud800-\udfff]")


def _parse(text: str) -> Any:
    try:
        return _DECODER.decode(text)
    except RecursionError:
        raise FrameError(
            "not-json", "frame nests too deeply to parse: send flatter JSON objects"
        ) from None
    except _ConstantError:
        raise FrameError(
            "not-json",
            "frame uses NaN, Infinity or a number out of range: send finite numbers or null",
        ) from None
    except json.JSONDecodeError as exc:
        raise FrameError(
            "not-json",
            f"frame is not valid JSON (error at character {exc.pos}): "
            "send one JSON object per text frame",
        ) from None
    except ValueError:
        # Python refuses integer literals longer than sys.get_int_max_str_digits().
        raise FrameError(
            "not-json", "frame holds a number too long to parse: send numbers with fewer digits"
        ) from None


def _too_large_error(what: str, before_login: bool) -> FrameError:
    if before_login:
        return FrameError(
            "too-large",
            f"frame {what}, the limit before login: log in with a smaller AppLogin "
            "(less info), then send larger messages",
        )
    return FrameError("too-large", f"frame {what}: split the data into smaller messages")


def decode_frame(
    text: str,
    max_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
    *,
    max_depth: int | None = None,
    max_src_length: int | None = None,
    max_containers: int | None = None,
    before_login: bool = False,
) -> dict[str, Any]:
    """Parse one text frame into a message dict, raising ``FrameError`` if it is unusable.

    ``max_depth`` bounds the nesting of objects and arrays (the frame itself is
    depth 1); ``max_src_length`` bounds the length of ``src`` (``mt`` and ``api``
    have :data:`MAX_NAME_LENGTH`); ``max_containers``
    the number of objects and arrays. Size, count and depth are checked on the text,
    before it is parsed. ``before_login`` says that the limits are those for
    connections not logged in yet (only the error texts differ).
    """
    if _too_large(text, max_bytes):
        raise _too_large_error(f"is larger than {max_bytes} bytes", before_login)
    brackets = Brackets(text)
    # Each object or array is an allocation the garbage collector then has to visit.
    if max_containers is not None and brackets.more_than(max_containers):
        raise _too_large_error(f"holds more than {max_containers} objects and arrays", before_login)
    if max_depth is not None and brackets.deeper_than(max_depth):
        raise FrameError(
            "too-deep", f"frame nests deeper than {max_depth} levels: send flatter JSON"
        )
    message = _parse(text)
    if not isinstance(message, dict):
        raise FrameError(
            "not-object", "frame is not a JSON object: send one JSON object per text frame"
        )
    mt = message.get("mt")
    if not isinstance(mt, str) or not mt:
        raise FrameError("no-mt", 'frame has no message type: set "mt" to a non-empty string')
    for name, code in (("api", "bad-api"), ("src", "bad-src")):
        if name in message and message[name] is None:
            del message[name]
        elif name in message and not isinstance(message[name], str):
            raise FrameError(
                code, f'"{name}" must be a string: send a string or leave the field out'
            )
    # Every reply echoes mt, api and src: unbounded, one request could make even its
    # own error reply too large to send.
    for name, code in (("mt", "bad-mt"), ("api", "bad-api")):
        if len(message.get(name, "")) > MAX_NAME_LENGTH:
            raise FrameError(
                code, f'"{name}" is longer than {MAX_NAME_LENGTH} characters: send a shorter name'
            )
    if max_src_length is not None and len(message.get("src", "")) > max_src_length:
        raise FrameError(
            "bad-src", f'"src" is longer than {max_src_length} characters: send a shorter tag'
        )
    return message


def _escape_surrogate(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group()):04x}"


def _encode_with(default: Callable[[Any], Any], message: dict[str, Any]) -> str:
    # Only a message holding a value JSON has no type for pays for a second encoder
    # (and a second pass): the common path stays the one C encoder call.
    encoder = json.JSONEncoder(
        separators=(",", ":"), ensure_ascii=False, allow_nan=False, default=default
    )
    return encoder.encode(message)


def encode_frame(
    message: Mapping[str, Any], default: Callable[[Any], Any] | None = None
) -> tuple[str, int]:
    """Encode an outgoing message as compact JSON; return the text and its UTF-8 size.

    ``default`` turns a value JSON has no type for into one it has (as in
    :func:`json.dumps`); without it such a value raises ``TypeError``.
    Non-ASCII characters are written as they are. Surrogate code points (which
    UTF-8 cannot carry) are written as ``\\udxxx`` escapes, each on its own: a
    lone one stays a lone one, and a pair that a Python string holds as two code
    points reads back, in any JSON parser, as the one character it stands for.
    """
    plain = message if isinstance(message, dict) else dict(message)
    try:
        text = _ENCODER.encode(plain)
    except TypeError:
        if default is None:
            raise
        text = _encode_with(default, plain)
    if text.isascii():
        return text, len(text)
    try:
        return text, len(text.encode("utf-8"))
    except UnicodeEncodeError:
        # Surrogates only occur inside JSON strings, and json writes a backslash
        # as two, so each escape put in here stands on its own.
        text = _SURROGATE.sub(_escape_surrogate, text)
        return text, len(text.encode("utf-8"))


def with_src(frame: str, size: int, src: str) -> tuple[str, int]:
    """``encode_frame({**message, "src": src})``, from ``(frame, size) = encode_frame(message)``.

    For ``message`` without a ``src`` of its own, where ``src`` goes last: the same
    text and size, without encoding the message again (one indication, many copies).
    """
    part = _ENCODER.encode(src)
    if src.isascii():
        extra = len(part)
    else:
        try:
            extra = len(part.encode("utf-8"))
        except UnicodeEncodeError:  # as in encode_frame
            part = _SURROGATE.sub(_escape_surrogate, part)
            extra = len(part.encode("utf-8"))
    if frame == "{}":
        return f'{{"src":{part}}}', 8 + extra
    return f'{frame[:-1]},"src":{part}}}', size + 7 + extra


def encode_message(message: Mapping[str, Any], default: Callable[[Any], Any] | None = None) -> str:
    """Encode an outgoing message as compact JSON that is valid UTF-8 (see encode_frame)."""
    return encode_frame(message, default)[0]


def binary_frame_error() -> FrameError:
    """Return the error for a binary frame; the connection stays open."""
    return FrameError(
        "binary", "binary frames are not part of the AppWebsocket protocol: send JSON text frames"
    )

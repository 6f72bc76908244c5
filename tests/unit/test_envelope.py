"""Frame validation and message encoding (PROTOCOL.md §1)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from appws.protocol import (
    DEFAULT_MAX_MESSAGE_BYTES,
    FrameError,
    binary_frame_error,
    decode_frame,
    encode_frame,
    encode_message,
)


def frame_error(text: str, max_bytes: int = DEFAULT_MAX_MESSAGE_BYTES) -> FrameError:
    with pytest.raises(FrameError) as info:
        decode_frame(text, max_bytes)
    return info.value


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("", "not-json"),
        ("{", "not-json"),
        ("{'mt': 'x'}", "not-json"),
        ('{"mt":"x"} {"mt":"y"}', "not-json"),
        ('{"mt":"x","n":NaN}', "not-json"),
        ('{"mt":"x","n":Infinity}', "not-json"),
        ('{"mt":"x","n":-Infinity}', "not-json"),
        ('{"mt":"x","n":1e999}', "not-json"),
        ('{"mt":"x","n":[-1E400]}', "not-json"),
        ("\ufeff{}", "not-json"),
        ("[1]", "not-object"),
        ('"AppLogin"', "not-object"),
        ("null", "not-object"),
        ("42", "not-object"),
        ("{}", "no-mt"),
        ('{"mt":""}', "no-mt"),
        ('{"mt":null}', "no-mt"),
        ('{"mt":5}', "no-mt"),
        ('{"mt":["x"]}', "no-mt"),
        ('{"mt":"x","api":5}', "bad-api"),
        ('{"mt":"x","api":{}}', "bad-api"),
        ('{"mt":"x","api":false}', "bad-api"),
        ('{"mt":"x","src":1}', "bad-src"),
        ('{"mt":"x","src":["a"]}', "bad-src"),
    ],
)
def test_error_codes(text: str, code: str) -> None:
    error = frame_error(text)
    assert error.code == code
    assert str(error) == error.text
    assert ":" in error.text  # says what is wrong, then what to do


def test_checks_run_in_order() -> None:
    assert frame_error('{"x": NaN' + " " * 20, max_bytes=10).code == "too-large"
    assert frame_error('{"mt":"x","api":1,"src":2}').code == "bad-api"


def test_error_text_never_contains_frame_content() -> None:
    secret = "hunter2-secret"
    for text in [
        '{"mt":"x","p":"' + secret + '"',
        '["' + secret + '"]',
        '{"p":"' + secret + '"}',
        '{"mt":"x","api":["' + secret + '"]}',
        '{"mt":"x","src":{"' + secret + '":1}}',
        '{"mt":"' + secret + '","n":NaN}',
        '{"' + secret + '":1}' * 10,
    ]:
        assert secret not in frame_error(text).text
        assert secret not in frame_error(text, max_bytes=5).text


def test_deep_nesting_is_not_json() -> None:
    error = frame_error('{"mt":"x","a":' + "[" * 100_000 + "]" * 100_000 + "}")
    assert error.code == "not-json"
    assert "nest" in error.text


def test_overlong_integer_is_not_json() -> None:
    error = frame_error('{"mt":"x","n":' + "9" * 5000 + "}")
    assert error.code == "not-json"


def test_size_limit_counts_utf8_bytes() -> None:
    text = '{"mt":"' + "é" * 10 + "€" * 10 + "😀" * 10 + '"}'
    size = len(text.encode("utf-8"))
    assert size == 9 + 20 + 30 + 40
    # Both limits sit between len(text) and 4 * len(text), so the text must be encoded.
    assert len(text) < size < 4 * len(text)
    assert decode_frame(text, max_bytes=size)["mt"].startswith("é")
    assert frame_error(text, max_bytes=size - 1).code == "too-large"


def test_size_limit_with_lone_surrogate() -> None:
    text = '{"mt":"\ud800"}'
    assert len(text.encode("utf-8", "surrogatepass")) == 12
    assert decode_frame(text, max_bytes=12) == {"mt": "\ud800"}
    assert frame_error(text, max_bytes=11).code == "too-large"


def test_size_limit_ascii_boundaries() -> None:
    text = '{"mt":"x"}'
    assert decode_frame(text, max_bytes=len(text)) == {"mt": "x"}
    assert frame_error(text, max_bytes=len(text) - 1).code == "too-large"
    assert frame_error(text, max_bytes=0).code == "too-large"
    assert "9 bytes" in frame_error(text, max_bytes=9).text


def test_default_limit() -> None:
    assert DEFAULT_MAX_MESSAGE_BYTES == 1024 * 1024
    big = '{"mt":"x","d":"' + "a" * DEFAULT_MAX_MESSAGE_BYTES + '"}'
    assert frame_error(big).code == "too-large"


def test_null_api_and_src_are_removed() -> None:
    assert decode_frame('{"mt":"x","api":null,"src":null,"n":null}') == {"mt": "x", "n": None}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"mt":"AppChallenge"}', {"mt": "AppChallenge"}),
        (
            ' {"mt":"Echo","api":"PbxSignal","src":"s1","x":[1,2.5,{"y":true}]} ',
            {"mt": "Echo", "api": "PbxSignal", "src": "s1", "x": [1, 2.5, {"y": True}]},
        ),
        ('{"mt":"x","api":"","src":""}', {"mt": "x", "api": "", "src": ""}),
        ('{"mt":"x","mt":"y"}', {"mt": "y"}),
        ('{"mt":"\\u00e9\\ud800"}', {"mt": "é\ud800"}),
    ],
)
def test_valid_frames(text: str, expected: dict[str, Any]) -> None:
    assert decode_frame(text) == expected


def test_encode_message_is_compact() -> None:
    message = {"mt": "AppLoginResult", "ok": True, "list": [1, {"a": None}], "s": "a b"}
    assert encode_message(message) == (
        '{"mt":"AppLoginResult","ok":true,"list":[1,{"a":null}],"s":"a b"}'
    )


def test_encode_message_writes_non_ascii_as_utf8() -> None:
    # Escaping every non-ASCII character made text up to six times larger.
    text = encode_message({"mt": "x", "s": "é€😀\u2028"})
    assert text == '{"mt":"x","s":"é€😀\u2028"}'
    # é, € and 😀 are 2, 3 and 4 bytes of UTF-8.
    assert encode_frame({"mt": "x", "s": "é€😀"}) == ('{"mt":"x","s":"é€😀"}', 17 + 2 + 3 + 4)


def test_encode_message_escapes_lone_surrogates() -> None:
    text = encode_message({"mt": "x", "s": "é\ud800\\\udfff"})
    assert text == '{"mt":"x","s":"é\\ud800\\\\\\udfff"}'
    text.encode("utf-8")  # a valid UTF-8 frame
    assert json.loads(text) == {"mt": "x", "s": "é\ud800\\\udfff"}
    assert decode_frame(text) == {"mt": "x", "s": "é\ud800\\\udfff"}


def test_a_surrogate_pair_held_as_two_code_points_reads_back_as_one_character() -> None:
    # Each surrogate is escaped on its own, as ensure_ascii did: JSON readers
    # (Python's, JavaScript's) join an escaped pair into the character.
    text, size = encode_frame({"mt": "x", "s": "\ud83d\ude00"})
    assert text == '{"mt":"x","s":"\\ud83d\\ude00"}'
    assert size == len(text)
    assert json.loads(text) == {"mt": "x", "s": "😀"}


@pytest.mark.parametrize("value", ["plain", "é" * 1000, "😀\ud800", {"k€y": ["\udc00", 1.5, None]}])
def test_encode_frame_size_is_the_utf8_size(value: Any) -> None:
    text, size = encode_frame({"mt": "x", "v": value})
    assert size == len(text.encode("utf-8"))


def test_encode_message_refuses_nan() -> None:
    with pytest.raises(ValueError):
        encode_message({"mt": "x", "n": float("nan")})


def test_encode_message_accepts_any_mapping() -> None:
    from types import MappingProxyType

    assert encode_message(MappingProxyType({"mt": "x"})) == '{"mt":"x"}'


def test_binary_frame_error() -> None:
    error = binary_frame_error()
    assert isinstance(error, FrameError)
    assert error.code == "binary"
    assert error.text == (
        "binary frames are not part of the AppWebsocket protocol: send JSON text frames"
    )
    assert str(error) == error.text


def test_frame_error_attributes() -> None:
    error = FrameError("code-x", "text y")
    assert (error.code, error.text, str(error)) == ("code-x", "text y", "text y")

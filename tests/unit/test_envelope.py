"""Frame validation and message encoding (docs/protocol.md)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from appws.protocol import (
    DEFAULT_MAX_MESSAGE_BYTES,
    FrameError,
    binary_frame_error,
    decode_frame,
    encode_frame,
    encode_message,
)
from appws.protocol.envelope import with_src


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


# -- limits checked on the text, before parsing ------------------------------------


def counting_parses(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record every text handed to the JSON parser from now on."""
    from appws.protocol import envelope

    parsed: list[str] = []
    parse = envelope._parse

    def counted(text: str) -> Any:
        parsed.append(text)
        return parse(text)

    monkeypatch.setattr(envelope, "_parse", counted)
    return parsed


def nested_frame(depth: int) -> str:
    return '{"mt":"x","a":' + "[" * (depth - 1) + "]" * (depth - 1) + "}"


def test_too_deep_frame_is_refused_before_it_is_parsed(monkeypatch: pytest.MonkeyPatch) -> None:
    parsed = counting_parses(monkeypatch)
    with pytest.raises(FrameError) as info:
        decode_frame(nested_frame(33), max_depth=32)
    assert info.value.code == "too-deep"
    assert parsed == []
    assert decode_frame(nested_frame(32), max_depth=32)["mt"] == "x"
    assert len(parsed) == 1


def test_too_large_frame_is_refused_before_it_is_parsed(monkeypatch: pytest.MonkeyPatch) -> None:
    parsed = counting_parses(monkeypatch)
    assert frame_error('{"mt":"x","p":"' + "a" * 100 + '"}', max_bytes=100).code == "too-large"
    assert parsed == []


def python_calls(function: Any, *args: Any, **kwargs: Any) -> int:
    """How many functions of appws run while ``function`` does (a count, not a time)."""
    import sys

    import appws

    package = str(Path(appws.__file__).parent)
    calls = 0

    def profile(frame: Any, event: str, arg: Any) -> None:
        # Only appws's own: a garbage-collector callback may run at any allocation.
        nonlocal calls
        if event == "call" and frame.f_code.co_filename.startswith(package):
            calls += 1

    sys.setprofile(profile)
    try:
        function(*args, **kwargs)
    finally:
        sys.setprofile(None)
    return calls


def test_work_of_the_depth_check_does_not_grow_with_the_containers() -> None:
    # Nesting just inside the limit, repeated: more brackets than the limit, so the
    # depth is really looked at. A walk over the parsed frame would make calls per array.
    def frame(units: int) -> str:
        return '{"mt":"x","a":[' + ",".join(["[" * 29 + "]" * 29] * units) + "]}"

    small = python_calls(decode_frame, frame(10), max_depth=32)
    large = python_calls(decode_frame, frame(1000), max_depth=32)
    assert small == large


@pytest.mark.parametrize(
    "text",
    [
        '{"mt":"x","s":"' + "[" * 50 + '"}',  # brackets in a string are text
        '{"mt":"x","s":"\\"[[[[[[[[[[\\\\"}',  # escaped quotes do not end the string
        '{"mt":"x","a":[[],[],[],[],[],[],[],[],[],[]]}',  # many, not deep
        '{"mt":"é","a":[[]],"b":{"c":{}}}',
    ],
)
def test_depth_counts_only_nesting_outside_strings(text: str) -> None:
    assert decode_frame(text, max_depth=3) == json.loads(text)


def test_too_deep_comes_before_the_syntax() -> None:
    # Refused from its brackets alone: the parser never sees it, valid or not.
    assert frame_error_with('{"mt":"x","a":' + "[" * 40, max_depth=32).code == "too-deep"
    assert frame_error_with("[" * 100_000 + "]" * 100_000, max_depth=32).code == "too-deep"


def frame_error_with(text: str, **limits: Any) -> FrameError:
    with pytest.raises(FrameError) as info:
        decode_frame(text, **limits)
    return info.value


def test_container_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    parsed = counting_parses(monkeypatch)
    at_limit = '{"mt":"x","a":[' + ",".join(["{}"] * 9) + "]}"  # 11 objects and arrays
    assert decode_frame(at_limit, max_containers=11)["mt"] == "x"
    error = frame_error_with(at_limit, max_containers=10)
    assert (error.code, error.text) == (
        "too-large",
        "frame holds more than 10 objects and arrays: split the data into smaller messages",
    )
    assert parsed == [at_limit]
    in_strings = '{"mt":"x","s":"' + "{[" * 50 + '"}'
    assert decode_frame(in_strings, max_containers=1)["s"] == "{[" * 50


def test_limits_before_login_say_so() -> None:
    text = '{"mt":"x","a":[[],[]]}'
    size = frame_error_with(text, max_bytes=10, before_login=True).text
    assert size == (
        "frame is larger than 10 bytes, the limit before login: log in with a smaller "
        "AppLogin (less info), then send larger messages"
    )
    count = frame_error_with(text, max_containers=2, before_login=True).text
    assert count.startswith("frame holds more than 2 objects and arrays, the limit before login")
    # Once logged in the texts are the usual ones.
    assert frame_error_with(text, max_bytes=10).text.endswith(
        "split the data into smaller messages"
    )


_JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=8,
)


@given(
    st.dictionaries(st.text().filter(lambda key: key != "src"), _JSON_VALUES, max_size=4),
    st.text(),
)
def test_with_src_gives_the_frame_of_the_whole_copy(message, src):
    # Any keys (src-like ones too), any text: surrogates, non-ASCII, escapes.
    assert with_src(*encode_frame(message), src) == encode_frame({**message, "src": src})

"""Depth and count of objects and arrays, read from the text before it is parsed."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from appws.protocol.brackets import Brackets
from appws.protocol.jsjson import JSON_STRING

texts = st.text(st.sampled_from(['"', "\\", "[", "]", "{", "}", "a", "é", "\u2028"]), max_size=8)
values = st.recursive(
    st.none() | st.integers() | texts,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(texts, children, max_size=4),
    max_leaves=30,
)


def depth(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max((depth(item) for item in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((depth(item) for item in value), default=0)
    return 0


def containers(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + sum(containers(item) for item in value.values())
    if isinstance(value, list):
        return 1 + sum(containers(item) for item in value)
    return 0


@given(value=values, limit=st.integers(min_value=0, max_value=8), ascii_only=st.booleans())
def test_agrees_with_the_parsed_value(value: Any, limit: int, ascii_only: bool) -> None:
    text = json.dumps(value, ensure_ascii=ascii_only)
    brackets = Brackets(text)
    assert brackets.deeper_than(limit) == (depth(value) > limit)
    assert brackets.more_than(limit) == (containers(value) > limit)


def test_whitespace_and_numbers_are_not_brackets() -> None:
    text = ' { "a" : [ 1.5e3 , -2 , true , null , [ ] ] } '
    assert not Brackets(text).deeper_than(3)
    assert Brackets(text).deeper_than(2)
    assert Brackets(text).more_than(2) and not Brackets(text).more_than(3)


def test_a_string_left_open_runs_to_the_end_in_one_match() -> None:
    # Escaped quotes and no closing one: had the pattern needed a closing quote, every
    # later '"' would start a fresh scan to the end (quadratic; 10 s for 64 KiB).
    text = '"' + '\\"' * 30_000
    match = JSON_STRING.match(text)
    assert match is not None and match.end() == len(text)
    tail = JSON_STRING.match('"ends in a backslash\\')
    assert tail is not None and tail.end() == 21


@given(st.text(st.sampled_from('"\\[]{}ax'), max_size=60))
def test_no_quote_is_left_outside_the_strings_found(text: str) -> None:
    assert '"' not in JSON_STRING.sub("", text)

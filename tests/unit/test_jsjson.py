"""js_stringify against a table and, differentially, against Node.js itself."""

from __future__ import annotations

import json
import math
import subprocess
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from appws.protocol import js_stringify
from appws.protocol.jsjson import _stringify_by_walk, _stringify_in_c, js_stringify_within
from tests.conftest import require_tool

# Reads a JSON array of JSON texts; answers with a JSON array of JSON.stringify(JSON.parse(t)).
# JSON.stringify on the outer array escapes lone surrogates as \udxxx, which json.loads restores.
NODE_SCRIPT = """
let input = "";
process.stdin.setEncoding("utf8");
process.stdin.on("data", (chunk) => { input += chunk; });
process.stdin.on("end", () => {
  const texts = JSON.parse(input);
  process.stdout.write(JSON.stringify(texts.map((t) => JSON.stringify(JSON.parse(t)))));
});
"""

TABLE: list[tuple[Any, str]] = [
    # numbers
    (0, "0"),
    (-7, "-7"),
    (2**53 - 1, "9007199254740991"),
    (2**53 + 1, "9007199254740992"),
    (12345678901234567890, "12345678901234567000"),
    (10**21, "1e+21"),
    (10**21 - 1, "1e+21"),
    (-(10**25), "-1e+25"),
    (2**1024 - 2**970 - 1, "1.7976931348623157e+308"),
    (2**1024 - 2**970, "null"),
    (10**400, "null"),
    (1.0, "1"),
    (-0.0, "0"),
    (0.0, "0"),
    (1.5, "1.5"),
    (-1.25, "-1.25"),
    (0.1, "0.1"),
    (1e-7, "1e-7"),
    (1e-6, "0.000001"),
    (0.000001, "0.000001"),
    (1.5e-6, "0.0000015"),
    (123e-20, "1.23e-18"),
    (1e20, "100000000000000000000"),
    (1.2345e20, "123450000000000000000"),
    (1e21, "1e+21"),
    (1.5e21, "1.5e+21"),
    (1e100, "1e+100"),
    (5e-324, "5e-324"),
    (1.7976931348623157e308, "1.7976931348623157e+308"),
    (123456.789, "123456.789"),
    (float("nan"), "null"),
    (float("inf"), "null"),
    (float("-inf"), "null"),
    # literals and strings
    (None, "null"),
    (True, "true"),
    (False, "false"),
    ("", '""'),
    ('q"b\\', '"q\\"b\\\\"'),
    ("\b\f\n\r\t", '"\\b\\f\\n\\r\\t"'),
    ("\x00\x01\x0b\x1f", '"\\u0000\\u0001\\u000b\\u001f"'),
    ("/\x7f\x80é€\u2028\u2029😀", '"/\x7f\x80é€\u2028\u2029😀"'),
    ("\ud800", '"\\ud800"'),
    ("a\udfffb", '"a\\udfffb"'),
    ("\udbff\ud800", '"\\udbff\\ud800"'),
    ("\ud83d\ude00", '"😀"'),  # a surrogate pair held as two code points is one character
    ("\ude00\ud83d", '"\\ude00\\ud83d"'),
    # containers and key order
    ([], "[]"),
    ({}, "{}"),
    ([1, [2, {}], "x"], '[1,[2,{}],"x"]'),
    ({"b": 1, "a": 2}, '{"b":1,"a":2}'),
    ({"b": 1, "2": 2, "10": 3, "1": 4, "a": 5}, '{"1":4,"2":2,"10":3,"b":1,"a":5}'),
    ({"x": 0, "01": 1, "0": 2, "-1": 3, "1.0": 4}, '{"0":2,"x":0,"01":1,"-1":3,"1.0":4}'),
    ({"4294967295": 1, "4294967294": 2, "z": 3}, '{"4294967294":2,"4294967295":1,"z":3}'),
    ({"\u0661": 1, "1": 2}, '{"1":2,"\u0661":1}'),  # Arabic-Indic digit is not an index
    ({"a": {"3": None, "b": [True]}}, '{"a":{"3":null,"b":[true]}}'),
    ({"k\n": "v"}, '{"k\\n":"v"}'),
]


@pytest.mark.parametrize(("value", "expected"), TABLE)
def test_table(value: Any, expected: str) -> None:
    assert js_stringify(value) == expected


@pytest.mark.parametrize(("value", "expected"), TABLE)
def test_table_by_walk(value: Any, expected: str) -> None:
    # js_stringify takes the C encoder where it can: the walk must be right on its own.
    assert _stringify_by_walk(value) == expected


def test_real_login_info_takes_the_c_encoder() -> None:
    info = {
        "appobj": "users",
        "cn": "Zoë Müller",
        "apps": [{"name": "users"}, {"name": "profile"}],
        "appurl": "https://1.2.3.4/example.com/usersapp/innovaphone-users",
        "lics": 10,
        "unlicensed": True,
        "groups": ["sales/€"],
        "note": 'a "1.5" and "9999999999999999" in text',
    }
    assert _stringify_in_c(info) == js_stringify(info) == _stringify_by_walk(info)


@pytest.mark.parametrize("key", [True, None, 1.5, 7, float("inf")])
def test_keys_that_are_not_strings_raise(key: Any) -> None:
    with pytest.raises(TypeError):
        js_stringify({key: "a"})


def test_tuple_is_an_array() -> None:
    assert js_stringify((1, "a")) == '[1,"a"]'


def test_unknown_type_raises_type_error() -> None:
    with pytest.raises(TypeError):
        js_stringify({"a": object()})
    with pytest.raises(TypeError):
        js_stringify({1: "a"})


def test_nesting_as_deep_as_json_loads_allows() -> None:
    depth = 100
    while True:
        try:
            value = json.loads("[" * (depth * 2) + "]" * (depth * 2))
        except RecursionError:
            break
        depth *= 2
    value = json.loads("[" * depth + "]" * depth)
    assert js_stringify(value) == "[" * depth + "]" * depth


def test_matches_python_for_simple_values() -> None:
    value = json.loads('{"a":[1,"é/\\u2028",true,null,{"b":-3}]}')
    assert js_stringify(value) == json.dumps(value, separators=(",", ":"), ensure_ascii=False)


# -- differential test against Node.js -----------------------------------------


def require_node() -> str:
    """Path of node; skips locally without it, but fails in CI where it must be installed."""
    return require_tool("node", "nodejs")


def node_round_trip(node: str, texts: list[str]) -> list[str]:
    """JSON.stringify(JSON.parse(t)) for every JSON text, in one node process."""
    proc = subprocess.run(
        [node, "-e", NODE_SCRIPT],
        input=json.dumps(texts).encode("ascii"),
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr.decode("utf-8", "replace")
    results: list[str] = json.loads(proc.stdout.decode("utf-8"))
    assert len(results) == len(texts)
    return results


def assert_same_as_node(node: str, values: list[Any]) -> None:
    texts = [json.dumps(value) for value in values]
    expected = node_round_trip(node, texts)
    for text, want in zip(texts, expected, strict=True):
        assert js_stringify(json.loads(text)) == want, text


def test_table_agrees_with_node() -> None:
    node = require_node()
    rows = [
        (json.dumps(value), expected)
        for value, expected in TABLE
        if not (isinstance(value, float) and not math.isfinite(value))
    ]
    assert node_round_trip(node, [text for text, _ in rows]) == [want for _, want in rows]


BOUNDARY_INTS = [
    2**53,
    2**53 + 1,
    2**53 + 3,
    2**64,
    10**21 - 1,
    10**21,
    10**22 + 1,
    2**1024 - 2**970 - 1,
    2**1024 - 2**970,
    2**1024,
]

SPECIAL_CHARS = ["\u2028", "\u2029", "/", "\x7f", "\x00", "\x1f", '"', "\\", "\ud800", "\udfff"]

chars = st.characters(exclude_categories=()) | st.sampled_from(SPECIAL_CHARS)
texts = st.text(chars, max_size=10)
keys = (
    st.text(chars, max_size=6)
    | st.sampled_from(["0", "1", "01", "00", "-0", "1.0", " 1", "4294967294", "4294967295"])
    | st.integers(min_value=0, max_value=2**33).map(str)
)
scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(2**1100), max_value=2**1100)
    | st.sampled_from(BOUNDARY_INTS).flatmap(lambda n: st.sampled_from([n, -n, n - 1]))
    | st.floats(allow_nan=False, allow_infinity=False)
    | texts
)
json_values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(keys, children, max_size=5),
    max_leaves=12,
)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.large_base_example,
    ],
)
@given(batch=st.lists(json_values, min_size=40, max_size=60))
def check_batches_against_node(node: str, batch: list[Any]) -> None:
    # Each example is a whole batch, so node starts once per example, not once per value.
    assert_same_as_node(node, batch)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(value=json_values)
def test_c_encoder_agrees_with_the_walk_or_declines(value: Any) -> None:
    text = _stringify_in_c(value)
    assert text is None or text == _stringify_by_walk(value)


def test_agrees_with_node() -> None:
    check_batches_against_node(require_node())


@settings(max_examples=300, deadline=None)
@given(json_values, st.integers(min_value=0, max_value=400))
def test_a_bounded_stringify_is_exact_or_gives_up(value: Any, limit: int) -> None:
    full = js_stringify(value)
    bounded = js_stringify_within(value, limit)
    assert bounded is None or bounded == full
    if len(full) <= limit:
        assert bounded == full  # it only gives up on texts longer than the limit


def test_a_bounded_stringify_gives_up_early_on_a_wide_object() -> None:
    # Array-index keys need the walk; 10,000 members cannot fit 100 characters.
    assert js_stringify_within({str(n): 0 for n in range(10_000)}, 100) is None
    assert js_stringify_within([0.5] * 10_000, 100) is None
    assert js_stringify_within({"1": 0.5}, 100) == '{"1":0.5}'

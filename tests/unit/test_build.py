"""CheckBuild URL rewriting (docs/protocol.md)."""

from __future__ import annotations

import pytest

from appws.protocol import check_build_url, is_build_number


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1a2b", True),
        ("0", True),
        ("DEADbeef", True),
        ("0123456789abcdefABCDEF", True),
        ("", False),
        ("1a2g", False),
        ("0x1a", False),
        (" 1a", False),
        ("\u0661", False),  # a Unicode digit, not ASCII hex
        ("\uff41", False),  # fullwidth letter a
    ],
)
def test_is_build_number(text: str, expected: bool) -> None:
    assert is_build_number(text) is expected


@pytest.mark.parametrize(
    ("url", "build", "expected"),
    [
        ("https://h/apps/notes.htm", "1a2b", "https://h/apps/1a2b/notes.htm"),
        ("https://h/apps/0f0f/notes.htm?x=1#y", "1a2b", "https://h/apps/1a2b/notes.htm?x=1#y"),
        ("https://h/apps/1a2b/notes.htm", "1a2b", None),
        ("https://h/apps/1a2b/notes.htm?x=1#y", "1a2b", None),
        # Upper-case hex is a build number too, and a case difference is a different build.
        ("https://h/apps/0F0F/notes.htm", "1a2b", "https://h/apps/1a2b/notes.htm"),
        ("https://h/apps/1A2B/notes.htm", "1A2B", None),
        ("https://h/apps/1A2B/notes.htm", "1a2b", "https://h/apps/1a2b/notes.htm"),
        # The trap: an ordinary directory that happens to be all hex digits is replaced.
        ("https://h/cafe/notes.htm", "1a2b", "https://h/1a2b/notes.htm"),
        ("https://h/apps/a/notes.htm", "1a2b", "https://h/apps/1a2b/notes.htm"),
        ("https://h/x/notes.htm", "1a2b", "https://h/x/1a2b/notes.htm"),
        ("https://h/notes.htm", "1a2b", "https://h/1a2b/notes.htm"),
        ("https://h:8443/x/y/notes.htm?q", "77", "https://h:8443/x/y/77/notes.htm?q"),
        ("https://h/x/notes.htm#frag", "77", "https://h/x/77/notes.htm#frag"),
        ("https://h/x/notes.htm?a=1&b=%2F", "77", "https://h/x/77/notes.htm?a=1&b=%2F"),
        ("https://h/apps/1a2b/", "1a2b", None),
        ("https://h/apps/", "1a2b", "https://h/apps/1a2b/"),
        ("https://h/", "1a2b", "https://h/1a2b/"),
        ("https://h", "1a2b", "https://h/1a2b/"),
        ("/notes.htm", "1a2b", "/1a2b/notes.htm"),
        ("notes.htm", "1a2b", "1a2b/notes.htm"),
        ("apps/0f0f/notes.htm", "1a2b", "apps/1a2b/notes.htm"),
        ("0f0f/notes.htm", "1a2b", "1a2b/notes.htm"),
        ("", "1a2b", "1a2b/"),
    ],
)
def test_check_build_url(url: str, build: str, expected: str | None) -> None:
    assert check_build_url(url, build) == expected


@pytest.mark.parametrize(
    "url", ["https://h/apps/notes.htm", "https://h/apps/0f0f/notes.htm", "/a/b.htm", "b.htm"]
)
def test_no_stray_query_or_fragment(url: str) -> None:
    result = check_build_url(url, "1a2b")
    assert result is not None
    assert "?" not in result and "#" not in result


def test_result_is_stable() -> None:
    first = check_build_url("https://h/apps/notes.htm?x#y", "1a2b")
    assert first is not None
    assert check_build_url(first, "1a2b") is None

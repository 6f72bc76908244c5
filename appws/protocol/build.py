"""CheckBuild: point a client at the App HTML of the current build (docs/protocol.md)."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

__all__ = ["check_build_url", "is_build_number"]

_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")


def is_build_number(text: str) -> bool:
    """True when ``text`` is non-empty and only ASCII hex digits."""
    return bool(text) and all(char in _HEX_DIGITS for char in text)


def check_build_url(url: str, build: str) -> str | None:
    """Return the URL the client must load instead of ``url``, or None if it is current.

    The directory holding the App's HTML file is taken as the build number when it is all
    hex digits. Trap: an ordinary directory named like ``cafe`` or ``add`` is hex too and gets
    replaced, so an App's HTML must sit directly under its build directory.
    """
    parts = urlsplit(url)
    path = parts.path
    if not path and parts.netloc:
        path = "/"
    # "/apps/0f0f/notes.htm" -> directory "/apps/0f0f", file "notes.htm", last "0f0f".
    directory, slash, file_name = path.rpartition("/")
    parent, parent_slash, last = directory.rpartition("/")
    if is_build_number(last):
        if last == build:
            return None
        new_path = parent + parent_slash + build + "/" + file_name
    else:
        new_path = directory + slash + build + "/" + file_name
    return urlunsplit(parts._replace(path=new_path))

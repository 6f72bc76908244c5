"""The build number of the site's App files: lowercase hex, from their content."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

from django.conf import settings

from appws.conf import get_settings

#: The browser client, served beside every App's files.
CLIENT_SCRIPT = Path(__file__).resolve().parent / "static" / "appws" / "appws.js"
BUILD_LENGTH = 12

_cached: tuple[tuple[tuple[str, int, int], ...], str] | None = None


def app_dirs() -> list[Path]:
    """The directories holding App files (``APPWS["APP_DIRS"]``), in lookup order."""
    return [Path(directory) for directory in get_settings().app_dirs]


def _files() -> Iterator[tuple[str, Path]]:
    seen: set[str] = set()
    for directory in app_dirs():
        if not directory.is_dir():
            continue
        for path in sorted(directory.rglob("*")):
            name = path.relative_to(directory).as_posix()
            if path.is_file() and name not in seen:
                seen.add(name)
                yield name, path
    if "appws.js" not in seen and CLIENT_SCRIPT.is_file():
        yield "appws.js", CLIENT_SCRIPT


def current_build() -> str | None:
    """``APPWS["BUILD"]`` if set, else a hash of the App files; None without any.

    The hash is recomputed only when a file's name, size or modification time
    changes, so editing an App during development gives a new build.
    """
    global _cached
    configured = get_settings().build
    if configured:
        return configured
    if not get_settings().app_dirs:
        return None
    files = list(_files())
    signature = tuple((name, path.stat().st_size, path.stat().st_mtime_ns) for name, path in files)
    if _cached is not None and _cached[0] == signature and not settings.DEBUG:
        return _cached[1]
    digest = hashlib.sha256()
    for name, path in files:
        digest.update(name.encode("utf-8") + b"\0" + path.read_bytes() + b"\0")
    build = digest.hexdigest()[:BUILD_LENGTH]
    _cached = (signature, build)
    return build


def find_file(name: str) -> Path | None:
    """Return the App file called ``name`` (a relative path), or None."""
    for known, path in _files():
        if known == name:
            return path
    return None

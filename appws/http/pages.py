"""HTTP views serving the Apps' HTML pages and assets under build-numbered URLs.

``/apps/<app>.htm`` (and any file beside it) serves the current file,
uncached; the App's client sends ``CheckBuild`` and lands on
``/apps/<build>/<app>.htm``. Files under the current build are cached for a
year as immutable: a new build is a new URL.
"""

from __future__ import annotations

import mimetypes

from django.http import FileResponse, Http404, HttpRequest, HttpResponseBase
from django.middleware.csrf import get_token
from django.views.decorators.http import require_safe

from appws.builds import current_build, find_file
from appws.conf import get_settings

IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"


_TEXT_TYPES = {
    ".htm": "text/html",
    ".html": "text/html",
    ".js": "text/javascript",
    ".mjs": "text/javascript",
    ".css": "text/css",
    ".json": "application/json",
    ".svg": "image/svg+xml",
}


def _content_type(name: str) -> str:
    suffix = name[name.rfind(".") :].lower() if "." in name else ""
    if suffix in _TEXT_TYPES:
        return f"{_TEXT_TYPES[suffix]}; charset=utf-8"
    guessed, _encoding = mimetypes.guess_type(name)
    return guessed or "application/octet-stream"


def _serve(request: HttpRequest, name: str, cache_control: str) -> HttpResponseBase:
    path = find_file(name)  # only names the App directories hold: no traversal
    if path is None:
        raise Http404("no such App file")
    if name.endswith((".htm", ".html")):
        # The page asks the site's login issuer with the CSRF cookie's token.
        get_token(request)
    response = FileResponse(path.open("rb"), content_type=_content_type(name))
    response["Cache-Control"] = cache_control
    response["X-Content-Type-Options"] = "nosniff"
    _allow_framing(response)
    return response


def _allow_framing(response: HttpResponseBase) -> None:
    # Apps run inside the vendor's myApps client, an iframe on another origin:
    # Django's X-Frame-Options (clickjacking middleware) would blank them.
    # Session cookies are SameSite=Lax by default, so a foreign frame does not
    # carry the site's login. FRAME_ANCESTORS narrows who may frame them.
    response.xframe_options_exempt = True  # type: ignore[attr-defined]
    ancestors = get_settings().frame_ancestors
    if ancestors is not None:
        sources = " ".join(["'self'", *ancestors])
        response["Content-Security-Policy"] = f"frame-ancestors {sources}"


@require_safe
def app_page(request: HttpRequest, name: str) -> HttpResponseBase:
    """Serve a file (``<app>.htm`` and what it loads) outside any build, never cached."""
    return _serve(request, name, REVALIDATE)


@require_safe
def app_file(request: HttpRequest, build: str, name: str) -> HttpResponseBase:
    """Serve an App file; immutable when ``build`` is current, else revalidated.

    A page under an old build still loads (its CheckBuild then moves it to
    the current build), but nothing of an old build is cached for long.
    """
    current = current_build()
    return _serve(request, name, IMMUTABLE if build == current else REVALIDATE)

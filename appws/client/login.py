"""Where the client's ``AppLogin`` comes from: a password, full credentials, or a callback."""

from __future__ import annotations

import asyncio
import json
import ssl as ssl_module
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from http.cookies import SimpleCookie
from typing import Any

from appws.client.errors import ConnectFailed, LoginRefused
from appws.protocol import login_digest

__all__ = [
    "APPLOGIN_FIELDS",
    "Credentials",
    "LoginCallback",
    "SiteLogin",
    "checked_message",
    "password_login",
]

ZERO_GUID = "0" * 32
# What an AppLogin carries, in the order the vendor's client sends it; anything else an
# issuer returns (salt, key, ...) stays behind.
APPLOGIN_FIELDS = ("app", "domain", "sip", "guid", "dn", "digest", "info", "pbxObj")

LoginCallback = Callable[[str, str], "Mapping[str, Any] | Awaitable[Mapping[str, Any]]"]
"""``(app, challenge) -> AppLogin fields`` (digest included), sync or async."""


@dataclass(frozen=True)
class Credentials:
    """The user fields of a password login; ``None`` keeps the vendor client's value.

    The vendor's password login (docs/protocol.md): ``sip`` = the App name, ``guid`` = 32
    zeros, ``dn`` = ``"Admin"``, no ``info``, ``pbxObj`` = the App name.
    """

    sip: str | None = None
    guid: str | None = None
    dn: str | None = None
    info: Mapping[str, Any] | None = None
    pbx_obj: str | None = None


def password_login(
    app: str,
    challenge: str,
    password: str,
    *,
    domain: str = "",
    credentials: Credentials | None = None,
) -> dict[str, Any]:
    """Return the ``AppLogin`` fields (without ``mt``) of a password login, digest included."""
    given = credentials or Credentials()
    fields: dict[str, Any] = {
        "app": app,
        "domain": domain,
        "sip": app if given.sip is None else given.sip,
        "guid": ZERO_GUID if given.guid is None else given.guid,
        "dn": "Admin" if given.dn is None else given.dn,
    }
    if given.info is not None:
        fields["info"] = dict(given.info)
    fields["digest"] = login_digest(fields, challenge, password)
    fields["pbxObj"] = app if given.pbx_obj is None else given.pbx_obj
    return fields


def issued_fields(app: str, issued: Mapping[str, Any]) -> dict[str, Any]:
    """Pick the ``AppLogin`` fields out of what a login callback returned.

    Raises ``LoginRefused`` when it carries ``error``/``errorText`` (a refusing issuer) or
    has no string ``digest``.
    """
    if not isinstance(issued, Mapping):
        raise LoginRefused(f"login callback returned {type(issued).__name__}, not a mapping")
    if issued.get("error") or issued.get("errorText"):
        code = issued.get("error")
        raise LoginRefused(
            str(issued.get("errorText") or code),
            error=code if isinstance(code, str) else None,
            reply=dict(issued),
        )
    if not isinstance(issued.get("digest"), str):
        raise LoginRefused("login callback returned no string 'digest'", reply=dict(issued))
    fields = {name: issued[name] for name in APPLOGIN_FIELDS if name in issued}
    fields.setdefault("app", app)
    return fields


def checked_message(message: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``message``; ValueError unless it has a non-empty string ``mt``."""
    mt = message.get("mt") if isinstance(message, Mapping) else None
    if not isinstance(mt, str) or not mt:
        raise ValueError(f'a message needs a non-empty string "mt": {message!r:.100}')
    return dict(message)


def _origin(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # a redirect comes back as HTTPError, with its Set-Cookie headers


class SiteLogin:
    """A login callback asking a site's login issuing endpoint (docs/login-issuing.md).

    Signs in to the site once with ``username``/``password`` through its login form (or
    uses a given ``session_id``), then POSTs ``{"app", "challenge"}`` with the session
    cookie and the CSRF token for every login. Blocking HTTP (urllib) runs in a thread.
    """

    def __init__(
        self,
        login_url: str,
        *,
        username: str | None = None,
        password: str | None = None,
        session_id: str | None = None,
        site_login_url: str | None = None,
        cafile: str | None = None,
        ssl: ssl_module.SSLContext | None = None,
        timeout: float = 30.0,
    ) -> None:
        if (username is None) != (password is None):
            raise ValueError("give both username and password, or neither")
        if username is None and session_id is None:
            raise ValueError("give username and password, or session_id")
        self.login_url = login_url
        self.site_login_url = site_login_url or urllib.parse.urljoin(login_url, "/accounts/login/")
        self._username = username
        self._password = password
        self._timeout = timeout
        self._cookies: dict[str, str] = {}
        if session_id is not None:
            self._cookies["sessionid"] = session_id
        context = ssl or ssl_module.create_default_context(cafile=cafile)
        self._opener = urllib.request.build_opener(
            _NoRedirect(), urllib.request.HTTPSHandler(context=context)
        )
        self._signed_in = session_id is not None

    async def __call__(self, app: str, challenge: str) -> dict[str, Any]:
        """Return the issued ``AppLogin`` fields for ``app`` and ``challenge``."""
        return await asyncio.to_thread(self.issue, app, challenge)

    def issue(self, app: str, challenge: str) -> dict[str, Any]:
        """The blocking form of the callback."""
        if not self._signed_in:
            self._sign_in()
        status, body = self._post_login(app, challenge)
        if status == 401 and self._username is not None:
            self._sign_in()  # the site session expired: sign in again, once
            status, body = self._post_login(app, challenge)
        try:
            answer = json.loads(body)
        except ValueError:
            answer = None
        if status == 200 and isinstance(answer, dict):
            return answer
        if isinstance(answer, dict) and isinstance(answer.get("errorText"), str):
            error = answer.get("error")
            raise LoginRefused(
                f"login endpoint answered {status}: {answer['errorText']}",
                error=error if isinstance(error, str) else None,
                reply=answer,
            )
        hint = " (CSRF check failed?)" if status == 403 else ""
        raise LoginRefused(f"login endpoint answered HTTP {status}{hint}", error=f"http-{status}")

    def _post_login(self, app: str, challenge: str) -> tuple[int, bytes]:
        if "csrftoken" not in self._cookies:
            self._fetch(self.site_login_url)
        body = json.dumps({"app": app, "challenge": challenge}).encode()
        return self._fetch(
            self.login_url,
            body,
            {"Content-Type": "application/json", "X-CSRFToken": self._cookies.get("csrftoken", "")},
        )

    def _sign_in(self) -> None:
        assert self._username is not None and self._password is not None
        self._fetch(self.site_login_url)
        token = self._cookies.get("csrftoken", "")
        form = urllib.parse.urlencode(
            {"csrfmiddlewaretoken": token, "username": self._username, "password": self._password}
        ).encode()
        status, _ = self._fetch(
            self.site_login_url, form, {"Content-Type": "application/x-www-form-urlencoded"}
        )
        # Django's LoginView redirects on success and shows the form again on failure.
        if status not in (301, 302, 303) or "sessionid" not in self._cookies:
            raise LoginRefused(
                f"signing in to {self.site_login_url} as {self._username!r} failed "
                f"(HTTP {status}): wrong username or password?",
                error="site-login",
            )
        self._signed_in = True

    def _fetch(
        self, url: str, data: bytes | None = None, headers: Mapping[str, str] | None = None
    ) -> tuple[int, bytes]:
        request = urllib.request.Request(url, data=data, headers=dict(headers or {}))
        if self._cookies:
            cookie = "; ".join(f"{name}={value}" for name, value in self._cookies.items())
            request.add_header("Cookie", cookie)
        if data is not None:
            # Django's CSRF check compares Origin (and, over HTTPS, Referer) with the host.
            request.add_header("Origin", _origin(url))
            request.add_header("Referer", url)
        try:
            with self._opener.open(request, timeout=self._timeout) as response:
                status, body, reply_headers = response.status, response.read(), response.headers
        except urllib.error.HTTPError as exc:
            status, body, reply_headers = exc.code, exc.read(), exc.headers
        except (urllib.error.URLError, OSError) as exc:
            raise ConnectFailed(f"cannot reach {url}: {exc}") from exc
        for header in reply_headers.get_all("Set-Cookie") or ():
            jar: SimpleCookie = SimpleCookie()
            jar.load(header)
            for name, morsel in jar.items():
                self._cookies[name] = morsel.value
        return status, body

"""HTTP views: the login issuer, which plays the PBX's part for the site's own users."""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any

from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_protect

from appws.accounts import account_domain, instance_domain, login_password
from appws.crypto import UndecryptablePassword
from appws.models import App
from appws.protocol import (
    CHALLENGE_LENGTH,
    ambiguous_field,
    forbidden_in,
    is_issuable_challenge,
    login_digest,
)
from appws.protocol.quoting import quote

__all__ = ["APP_PAGE_PREFIX", "MAX_CHALLENGE_LENGTH", "app_page_url", "issue_login", "user_guid"]

login_logger = logging.getLogger("appws.login")

#: Path prefix of the Apps' HTML pages; ``info.appurl`` is ``<prefix><app>.htm``.
APP_PAGE_PREFIX = "/apps/"
#: Longest challenge the issuer signs (the consumer's own challenges have 16 digits).
MAX_CHALLENGE_LENGTH = CHALLENGE_LENGTH
#: Largest request body read, in bytes: a name and a challenge need far less.
MAX_BODY_BYTES = 4096

_AnyUser = AbstractBaseUser | AnonymousUser


def app_page_url(request: HttpRequest, name: str) -> str:
    """Return the absolute URL of App ``name``'s HTML page on this site."""
    return request.build_absolute_uri(f"{APP_PAGE_PREFIX}{name}.htm")


def user_guid(user: AbstractBaseUser) -> str:
    """Return ``user``'s stable login guid: 32 lowercase hex digits, not a secret."""
    return uuid.uuid5(uuid.NAMESPACE_URL, f"appws:user:{user.pk}").hex


def _display_name(user: AbstractBaseUser) -> str:
    full_name = getattr(user, "get_full_name", None)
    name = full_name().strip() if callable(full_name) else ""
    return name or user.get_username()


def _group_names(user: AbstractBaseUser) -> list[str]:
    groups = getattr(user, "groups", None)
    if groups is None:  # a custom user model without PermissionsMixin
        return []
    return sorted(groups.values_list("name", flat=True))


def _domain(request: HttpRequest, app: App) -> str:
    # The instance domain a service would report for this App, so both agree.
    return instance_domain(account_domain(app), request.get_host())


def _unusable_field(request: HttpRequest, login: dict[str, Any]) -> JsonResponse | None:
    """Refuse to sign fields the service would refuse as ambiguous (``ambiguous_field``)."""
    field = ambiguous_field(login)
    if field is None:
        return None
    if field == "domain":
        login_logger.error(
            "Login not issued (app=%r): the site's domain %r holds ':' (an IPv6 address as "
            "host name?); set APPWS['DOMAIN'] or the App's domain to a DNS name",
            login["app"],
            login["domain"],
        )
        return _json(
            {
                "error": "misconfigured",
                "errorText": "This site's domain holds ':' (an IPv6 address?), which a login "
                "cannot carry: its administrator must set APPWS['DOMAIN'] to a DNS name.",
            },
            status=500,
        )
    shown = {"sip": "user name", "dn": "display name"}.get(field, field)
    held = repr(forbidden_in(login, field))
    return _refuse(
        request,
        403,
        "unissuable",
        f"No login can be issued for you: your {shown} holds {held}, which would make the "
        "login's digest ambiguous. Ask an administrator to change it.",
        login["app"],
    )


def _json(payload: dict[str, Any], status: int = 200) -> JsonResponse:
    response = JsonResponse(payload, status=status)
    response["Cache-Control"] = "no-store"
    return response


def _who(user: _AnyUser) -> str:
    return user.get_username() if user.is_authenticated else "-"


def _refuse(
    request: HttpRequest, status: int, error: str, text: str, app: object = None
) -> JsonResponse:
    login_logger.info(
        "Login refused: %r (app=%s user=%r from %r)",
        error,
        quote(app if isinstance(app, str) else "-"),
        _who(request.user),
        request.META.get("REMOTE_ADDR", "unknown"),
    )
    return _json({"error": error, "errorText": text}, status)


def _read_body(request: HttpRequest) -> dict[str, Any] | str:
    """Return the request's JSON object, or the text explaining why there is none."""
    too_large = f"The request body must not exceed {MAX_BODY_BYTES} bytes."
    try:
        raw = request.body
    except RequestDataTooBig:
        return too_large
    if len(raw) > MAX_BODY_BYTES:
        return too_large
    try:
        body = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return "The request body must be JSON."
    if not isinstance(body, dict):
        return "The request body must be a JSON object."
    app = body.get("app")
    if not isinstance(app, str) or not app:
        return "'app' must be a non-empty string: the App's name."
    if not is_issuable_challenge(body.get("challenge")):
        return (
            f"'challenge' must be 1 to {MAX_CHALLENGE_LENGTH} letters or digits (A-Z, a-z, 0-9): "
            "the challenge AppChallengeResult gave the App, unchanged."
        )
    return body


def _may_open(user: AbstractBaseUser, app: App) -> bool:
    has_perm = getattr(user, "has_perm", None)  # absent without PermissionsMixin
    return callable(has_perm) and bool(has_perm(app.access_permission_name))


def _openable_apps(user: AbstractBaseUser) -> list[dict[str, str]]:
    apps = App.objects.filter(enabled=True).order_by("name")
    return [{"name": app.name} for app in apps if _may_open(user, app)]


@csrf_protect
def issue_login(request: HttpRequest) -> HttpResponse:
    """Issue an AppLogin for the logged-in user, as a PBX would for myApps.

    POST a JSON object ``{"app": name, "challenge": challenge}``; the answer holds
    ``app, domain, sip, guid, dn, info, pbxObj, digest``, ready to send as
    ``AppLogin``. Refusals are ``{"error", "errorText"}`` with 400/401/403/404/405
    (500 when the App's password cannot be decrypted). See docs/login-issuing.md.
    """
    if request.method != "POST":
        response = _refuse(request, 405, "method-not-allowed", "Use POST to request a login.")
        response["Allow"] = "POST"
        return response
    user = request.user
    if not user.is_authenticated or not isinstance(user, AbstractBaseUser):
        return _refuse(request, 401, "not-authenticated", "Log in to the site first.")
    body = _read_body(request)
    if isinstance(body, str):
        return _refuse(request, 400, "bad-request", body)
    name: str = body["app"]
    challenge: str = body["challenge"]
    app = App.objects.filter(name=name, enabled=True).first()
    if app is None:
        # Disabled Apps get the same answer as unknown ones.
        return _refuse(
            request, 404, "unknown-app", "There is no App of that name on this site.", name
        )
    if not _may_open(user, app):
        return _refuse(request, 403, "forbidden", "You may not open this App.", name)

    if user.get_username() == app.name:
        # info.appobj would equal sip: the login would pass for the App object itself.
        return _refuse(
            request,
            403,
            "unissuable",
            f"No login is issued to a user named like the App ({app.name!r}): such a login "
            "would pass for the PBX's App object. Rename the user.",
            name,
        )
    dn = _display_name(user)
    info: dict[str, Any] = {
        "appobj": app.name,
        "appdn": app.title or app.name,
        "appurl": app_page_url(request, app.name),
        "cn": dn,
        "apps": _openable_apps(user),
        "groups": _group_names(user),
    }
    login: dict[str, Any] = {
        "app": app.name,
        "domain": _domain(request, app),
        "sip": user.get_username(),
        "guid": user_guid(user),
        "dn": dn,
        "info": info,
        "pbxObj": app.name,
    }
    unusable = _unusable_field(request, login)
    if unusable is not None:
        return unusable
    try:
        # Services check an APPWS["APPS"] entry of the same name first: sign with its password.
        password = login_password(app)
    except UndecryptablePassword as error:
        login_logger.error("Login not issued (app=%r): %r", app.name, error)
        return _json(
            {"error": "internal", "errorText": "This App cannot issue logins now."}, status=500
        )
    login["digest"] = login_digest(login, challenge, password)
    login_logger.info(
        "Login issued (app=%r user=%r from %r)",
        app.name,
        login["sip"],
        request.META.get("REMOTE_ADDR", "unknown"),
    )
    return _json(login)

"""Admin-managed Apps, their permissions, the sessions and PBXs connected now, and the
PBX users replicated (in :mod:`appws.models.pbx_users`)."""

from __future__ import annotations

from collections.abc import Iterable

from django.conf import settings
from django.contrib.auth.models import Permission
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator, RegexValidator
from django.db import models

from appws.crypto import decrypt_password, encrypt_password
from appws.protocol import LoginKind, PbxIdentity

app_name_validator = RegexValidator(
    r"^[A-Za-z0-9][A-Za-z0-9_.-]*$",
    "An App name is the App's HTML file name without .htm: letters, digits, "
    "'-', '_' and '.', starting with a letter or digit.",
)

ACCESS_CODENAME_PREFIX = "open_"


def app_name_list(names: Iterable[str]) -> list[str]:
    """``names`` as stored in ``App.check_logins``: valid App names, each once, sorted.

    Raises ``ValidationError`` naming the first that is no App name.
    """
    found: set[str] = set()
    for name in names:
        try:
            app_name_validator(name)
        except ValidationError:
            raise ValidationError(f"{name!r} is not an App name.") from None
        found.add(name)
    return sorted(found)


class App(models.Model):
    """An App that App Services accept logins for, with its shared password."""

    name = models.CharField(
        max_length=90,
        unique=True,
        validators=[app_name_validator],
        help_text="The App's HTML file name without .htm; the 'app' of AppLogin.",
    )
    title = models.CharField(max_length=200, blank=True, help_text="Shown to people.")
    password_encrypted = models.TextField(editable=False)
    enabled = models.BooleanField(
        default=True, help_text="Disabled Apps refuse logins; live sessions are closed."
    )
    hidden = models.BooleanField(default=False, help_text="Sent as info.hidden in AppInfoResult.")
    domain = models.CharField(
        max_length=255,
        blank=True,
        help_text="The service instance's domain sent in AppLoginResult "
        "(empty: the APPWS DOMAIN setting, else the host name).",
    )
    info_apis = models.JSONField(
        default=dict, blank=True, help_text="info.apis of AppInfoResult: the APIs this App offers."
    )
    service_apis = models.JSONField(
        default=dict, blank=True, help_text="serviceInfo.apis of AppInfoResult."
    )
    check_logins = models.JSONField(
        default=list,
        blank=True,
        help_text="Names of the Apps whose passwords sessions of this App may verify with "
        "AppCheckLogin (a PBX's manager checking App objects). Empty: none.",
    )
    permissions = models.ManyToManyField(
        Permission,
        blank=True,
        related_name="+",
        help_text="What sessions of this App may do: handlers declaring one of these "
        "permissions accept them.",
    )
    access_permission = models.OneToOneField(
        Permission,
        null=True,
        editable=False,
        on_delete=models.SET_NULL,
        related_name="appws_app",
        help_text="Who may open this App: grant it to users and groups.",
    )
    pbx_rate_limit = models.FloatField(
        "PBX message rate limit",
        null=True,
        blank=True,
        validators=[MinValueValidator(0)],
        help_text="Messages per second a PBX's connection as this App's object may send "
        "(0: no limit). Empty: the site's setting for PBX connections.",
    )
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        verbose_name = "App"

    def __str__(self) -> str:
        return self.title or self.name

    def set_password(self, password: str) -> None:
        """Store ``password`` encrypted (call ``save()`` afterwards)."""
        if not password:
            raise ValueError("an App password must not be empty")
        self.password_encrypted = encrypt_password(password)

    def get_password(self) -> str:
        """Return the password in clear, for digest checks and login issuing."""
        return decrypt_password(self.password_encrypted)

    @property
    def access_codename(self) -> str:
        return f"{ACCESS_CODENAME_PREFIX}{self.name}"

    @property
    def access_permission_name(self) -> str:
        """``"appws.open_<name>"``, as for ``user.has_perm()``."""
        return f"appws.{self.access_codename}"

    def operation_permissions(self) -> frozenset[str]:
        """The ``"app_label.codename"`` of each permission sessions of this App get."""
        rows = self.permissions.values_list("content_type__app_label", "codename")
        return frozenset(f"{label}.{codename}" for label, codename in rows)


class ServerProcess(models.Model):
    """A server process holding live sessions; its heartbeat tells it is alive."""

    ident = models.CharField(max_length=200, unique=True)
    hostname = models.CharField(max_length=255)
    pid = models.IntegerField()
    started = models.DateTimeField()
    last_seen = models.DateTimeField(db_index=True)

    class Meta:
        verbose_name = "server process"
        verbose_name_plural = "server processes"

    def __str__(self) -> str:
        return f"{self.hostname}:{self.pid}"


class LiveSession(models.Model):
    """A logged-in AppWebsocket connection, on whichever process serves it."""

    channel_name = models.CharField(max_length=255, unique=True)
    server = models.ForeignKey(ServerProcess, on_delete=models.CASCADE, related_name="sessions")
    app = models.ForeignKey(App, null=True, blank=True, on_delete=models.SET_NULL)
    app_name = models.CharField(max_length=90, db_index=True)
    sip = models.CharField(max_length=255, blank=True)
    domain = models.CharField(max_length=255, blank=True)
    dn = models.CharField(max_length=255, blank=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    remote_address = models.CharField(max_length=100, blank=True)
    service = models.CharField(max_length=255, blank=True)
    login_kind = models.CharField(
        "login",
        max_length=16,
        blank=True,
        choices=[
            (LoginKind.PBX.value, "PBX (the App object)"),
            (LoginKind.PASSWORD.value, "App password"),
            (LoginKind.USER.value, "issued for a user"),
        ],
        help_text="How the session logged in: the PBX's App object itself, with the App's "
        "password, or with a login issued for a user (by a PBX or this site).",
    )
    connected_at = models.DateTimeField()
    last_activity = models.DateTimeField()
    groups = models.JSONField(
        default=list,
        blank=True,
        editable=False,
        help_text="The channel-layer groups of the session's subscriptions, so that a sweep "
        "of a crashed process takes its channel out of them.",
    )

    class Meta:
        ordering = ["-connected_at"]
        verbose_name = "live session"

    def __str__(self) -> str:
        who = f"{self.sip}@{self.domain}" if self.domain else self.sip or "?"
        return f"{self.app_name}: {who}"

    @property
    def user_label(self) -> str:
        return f"{self.sip}@{self.domain}" if self.domain else self.sip


class PbxConnection(models.Model):
    """A PBX connected as an App object, on whichever process holds its socket.

    Kept whether or not ``TRACK_SESSIONS`` is on: ``appws.pbx`` finds the PBXs it
    may call here. Rows of a stale process count as not connected and go with it.
    """

    app_name = models.CharField("App", max_length=90, db_index=True)
    domain = models.CharField(max_length=255)
    pbx = models.CharField("PBX", max_length=255, help_text="The PBX's name, from PbxInfo.")
    sip = models.CharField(
        "App object", max_length=255, help_text="The sip name of the PBX's App object."
    )
    dns = models.CharField("DNS name", max_length=255, blank=True)
    apis = models.JSONField(
        "APIs", default=list, help_text="The PBX APIs enabled for this connection (PbxInfo)."
    )
    version = models.CharField(max_length=255, blank=True)
    build = models.CharField(max_length=255, blank=True)
    channel_name = models.CharField(max_length=255, unique=True)
    server = models.ForeignKey(
        ServerProcess, on_delete=models.CASCADE, related_name="pbx_connections"
    )
    connected_at = models.DateTimeField()
    services = models.JSONField(
        default=list,
        blank=True,
        help_text="The App Services this App object may use (the PBX's ServicesInfo).",
    )

    class Meta:
        ordering = ["app_name", "domain", "pbx", "sip"]
        verbose_name = "PBX connection"
        indexes = [models.Index(fields=["app_name", "domain", "pbx", "sip"])]

    def __str__(self) -> str:
        return f"{self.app_name}: {self.identity}"

    @property
    def identity(self) -> PbxIdentity:
        return PbxIdentity(domain=self.domain, pbx=self.pbx, sip=self.sip)


# The replicated PBX users have a module of their own; Django finds models only here.
from appws.models.pbx_users import (  # noqa: E402
    PbxCreatedUser,
    PbxReplica,
    PbxUser,
    PbxUserEmail,
    PbxUserGroup,
)

__all__ = [
    "App",
    "LiveSession",
    "PbxConnection",
    "PbxCreatedUser",
    "PbxReplica",
    "PbxUser",
    "PbxUserEmail",
    "PbxUserGroup",
    "ServerProcess",
    "app_name_list",
    "app_name_validator",
]

"""The PBX's users, replicated (docs/pbx.md, "Replicating the PBX's users").

A :class:`PbxReplica` per PBX holds the replication's state; a :class:`PbxUser` per
user of that PBX, its emails and group memberships in tables of their own so that
searching by email and filtering by group are plain indexed lookups on every database.
The lengths of the text fields are ``appws.pbx.users.rows.MAX_LENGTHS`` (a test checks
them): a row with a longer value is skipped as bad before it reaches these tables.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

__all__ = ["PbxCreatedUser", "PbxReplica", "PbxUser", "PbxUserEmail", "PbxUserGroup"]


class PbxReplica(models.Model):
    """One PBX's replicated user table: which copy is current, and a sweep held back."""

    domain = models.CharField(max_length=255)
    pbx = models.CharField("PBX", max_length=255, help_text="The PBX's name, from PbxInfo.")
    app_name = models.CharField(
        "App", max_length=90, blank=True, help_text="The App whose PBX session replicates it."
    )
    running = models.BooleanField(default=False, help_text="A PBX session replicates it now.")
    copy_done = models.BooleanField(
        "initial copy done", default=False, help_text="The current session's copy completed."
    )
    generation = models.PositiveBigIntegerField(
        default=0, help_text="The number of the latest initial copy begun."
    )
    completed_generation = models.PositiveBigIntegerField(
        default=0, help_text="The newest initial copy that completed."
    )
    last_change = models.DateTimeField(null=True, blank=True)
    row_count = models.PositiveIntegerField("users", default=0)
    skipped_rows = models.PositiveBigIntegerField(
        default=0, help_text="Rows the PBX sent that were bad (no guid, wrong types, too large)."
    )
    held_sweep = models.PositiveIntegerField(
        default=0,
        help_text="Users a sweep would delete but did not, being more than "
        "PBX_USERS_SWEEP_LIMIT of them: confirm it in the admin or with "
        "manage.py appws_pbx confirm-sweep.",
    )
    held_generation = models.PositiveBigIntegerField(null=True, blank=True)
    held_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["domain", "pbx"]
        verbose_name = "PBX user replica"
        constraints = [
            models.UniqueConstraint(fields=["domain", "pbx"], name="appws_pbxreplica_unique")
        ]

    def __str__(self) -> str:
        return f"{self.pbx}.{self.domain}" if self.domain else self.pbx


class PbxUser(models.Model):
    """A user of a PBX as the PBX replicates it (never its ``pwd``)."""

    replica = models.ForeignKey(PbxReplica, on_delete=models.CASCADE, related_name="users")
    guid = models.CharField(max_length=32)
    h323 = models.CharField("name", max_length=255, blank=True)
    cn = models.CharField("long name", max_length=255, blank=True)
    dn = models.CharField("display name", max_length=255, blank=True)
    e164 = models.CharField("number", max_length=64, blank=True)
    node = models.CharField(max_length=255, blank=True)
    loc = models.CharField("location", max_length=255, blank=True)
    hide = models.BooleanField(default=False)
    apps = models.JSONField(default=list, blank=True, help_text="App names, from 'apps'.")
    lists = models.JSONField(
        default=dict, blank=True, help_text="The other nested lists: devices, cds, forks, ..."
    )
    raw = models.JSONField(default=dict, blank=True, help_text="The row as sent, without pwd.")
    digest = models.CharField(max_length=64, editable=False)
    generation = models.PositiveBigIntegerField(
        default=0, help_text="The newest initial copy (or live change) that held this user."
    )
    updated = models.DateTimeField()
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="pbx_users",
        help_text="The Django user it maps to (PBX_USERS_MAP).",
    )

    class Meta:
        ordering = ["replica", "h323"]
        verbose_name = "PBX user"
        constraints = [
            models.UniqueConstraint(fields=["replica", "guid"], name="appws_pbxuser_unique_guid")
        ]
        indexes = [
            models.Index(fields=["h323"], name="appws_pbxuser_h323"),
            models.Index(fields=["guid"], name="appws_pbxuser_guid"),
            models.Index(fields=["e164"], name="appws_pbxuser_e164"),
            models.Index(fields=["replica", "generation"], name="appws_pbxuser_generation"),
        ]

    def __str__(self) -> str:
        return self.h323 or self.guid


class PbxUserEmail(models.Model):
    """One email of a PBX user, lower case."""

    user = models.ForeignKey(PbxUser, on_delete=models.CASCADE, related_name="emails")
    email = models.CharField(max_length=254, db_index=True)

    class Meta:
        verbose_name = "PBX user email"

    def __str__(self) -> str:
        return self.email


class PbxUserGroup(models.Model):
    """A PBX user's membership of a group (``grps``)."""

    user = models.ForeignKey(PbxUser, on_delete=models.CASCADE, related_name="groups")
    name = models.CharField(max_length=255, db_index=True)
    mode = models.CharField(max_length=32, blank=True)
    dyn = models.CharField(max_length=32, blank=True)

    class Meta:
        verbose_name = "PBX user group"

    def __str__(self) -> str:
        return self.name


class PbxCreatedUser(models.Model):
    """A Django user the PBX user mapping created: it may link and deactivate only those."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="pbx_created"
    )
    created = models.DateTimeField(auto_now_add=True)
    deactivated = models.BooleanField(
        default=False,
        help_text="The mapping deactivated it when its PBX users went; it reactivates "
        "it when one comes back.",
    )

    class Meta:
        verbose_name = "Django user created for PBX users"

    def __str__(self) -> str:
        return str(self.user)

from __future__ import annotations

from typing import Any

from django.db import models


class Note(models.Model):
    """A shared note; the App permission notes.delete_note lets a session delete it."""

    text = models.CharField(max_length=500)
    author = models.CharField(max_length=255, blank=True)
    #: Who added it (the session's sip): their own notes do not count on their badge.
    #: Text, not a 255-character column: a login's sip has no length limit of its own.
    author_sip = models.TextField(blank=True, default="")
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created", "-id"]

    def __str__(self) -> str:
        return self.text[:50]

    def as_message(self) -> dict[str, Any]:
        return {
            "id": self.pk,
            "text": self.text,
            "author": self.author,
            "created": self.created.isoformat(),
        }


class ConnectedPbx(models.Model):
    """What the notes service learnt from a PBX that connected to it, for the landing page."""

    identity = models.CharField(max_length=255, unique=True)
    apis = models.JSONField(default=list)
    node_info = models.JSONField(null=True, blank=True)
    app_object = models.JSONField(null=True, blank=True)
    problem = models.CharField(max_length=255, blank=True)
    connected = models.BooleanField(default=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-updated"]

    def __str__(self) -> str:
        return self.identity


class NoteReader(models.Model):
    """A user of the notes App (the PBX user's sip) and when they last listed the notes.

    The notes added by others since then are the count on their App icon's badge.
    """

    sip = models.TextField(unique=True)  # as long as the login's sip, like author_sip
    last_listed = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return self.sip

from __future__ import annotations

from typing import Any

from django.db import models


class Note(models.Model):
    """A shared note; the App permission notes.delete_note lets a session delete it."""

    text = models.CharField(max_length=500)
    author = models.CharField(max_length=255, blank=True)
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

"""The count on the notes App's icon: notes added by others since a user last listed them."""

from __future__ import annotations

from asgiref.sync import sync_to_async

from .models import Note, NoteReader


def count_for(reader: NoteReader) -> int:
    """Notes by others than ``reader`` since they last listed the notes (all, if never)."""
    notes = Note.objects.exclude(author_sip=reader.sip)
    if reader.last_listed is not None:
        notes = notes.filter(created__gt=reader.last_listed)
    return notes.count()


def new_counts(author: str) -> dict[str, int]:
    """The counts of every known reader but ``author`` (who just added a note)."""
    return {reader.sip: count_for(reader) for reader in NoteReader.objects.exclude(sip=author)}


@sync_to_async
def unread_count(sip: str) -> int:
    """The count of ``sip``; they become a known reader, so later notes update them."""
    reader, _ = NoteReader.objects.get_or_create(sip=sip)
    return count_for(reader)

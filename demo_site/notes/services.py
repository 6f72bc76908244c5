"""The notes App Service: two Apps, one service, Django permissions deciding who deletes."""

from __future__ import annotations

import logging
from typing import Any

from asgiref.sync import sync_to_async
from django.utils import timezone

from appws import AppWebsocketConsumer, AppwsError, Session, badges, mt, notify_on_commit
from appws.exceptions import LayerUnavailable, LoginFailed, PeerRequestError
from appws.protocol import LoginKind, PbxInfo

from .badges import new_counts, unread_count
from .models import ConnectedPbx, Note, NoteReader
from .pbx_users import USERS_TOPIC, listed_users

logger = logging.getLogger("demo_site.notes")

TOPIC = "notes"
MAX_TEXT = 500
DELETE = "notes.delete_note"


class NotesService(AppWebsocketConsumer):
    """Shared notes: everyone lists, adds and watches; notes-admin may also delete."""

    apps = ("notes", "notes-admin")
    #: myApps shows on the notes icon how many notes others added since one last listed them.
    badge_apps = ("notes",)
    #: A copy of each connected PBX's users (PbxTableUsers): the landing page lists them,
    #: and PBX_USERS_MAP (settings.py) gives each a Django user.
    replicate_users = True

    async def get_user(self, session: Session) -> Any:
        """The login's Django user; a user login needs one that may open the App.

        What ``REQUIRE_USER_ACCESS`` does, for the notes Apps only: the echo App beside
        them takes password logins that map to nobody. A PBX user's access follows the
        Apps the PBX grants them (``pbx_users.py``).
        """
        user = await super().get_user(session)
        if session.kind is LoginKind.USER:
            access = f"appws.open_{session.app}"
            if user is None or not await sync_to_async(user.has_perm)(access):
                raise LoginFailed(
                    f"user {session.sip!r} may not open App {session.app!r}: "
                    f"the PBX must list {session.app!r} in the user's Apps"
                )
        return user

    @mt("ListNotes")
    def list_notes(self, msg: dict[str, Any]) -> dict[str, Any]:
        """The newest 200 notes, and whether this session may delete."""
        assert self.session is not None
        notes = [note.as_message() for note in Note.objects.all()[:200]]
        if self.session.sip:  # a PBX user (a password login has none): their badge is 0 now
            NoteReader.objects.update_or_create(
                sip=self.session.sip, defaults={"last_listed": timezone.now()}
            )
            _show_badges({self.session.sip: 0})
        return {"notes": notes, "canDelete": self.session.has_permission(DELETE)}

    @mt("AddNote")
    def add_note(self, msg: dict[str, Any]) -> dict[str, Any]:
        """Add a note with text; every subscriber gets NoteAdded."""
        assert self.session is not None
        text = msg.get("text")
        if not isinstance(text, str) or not text.strip():
            raise AppwsError("bad-request", "AddNote needs a non-empty string 'text'")
        if len(text) > MAX_TEXT:
            raise AppwsError("bad-request", f"a note has at most {MAX_TEXT} characters")
        sip = self.session.sip
        # Cut to the column: PostgreSQL refuses longer text (SQLite would keep it whole).
        author = (self.session.dn or sip)[: Note._meta.get_field("author").max_length]
        note = Note.objects.create(text=text.strip(), author=author, author_sip=sip)
        event = {"mt": "NoteAdded", "note": note.as_message()}
        notify_on_commit(TOPIC, event)
        _show_badges(new_counts(sip))  # one more for everyone else
        return {"note": note.as_message()}

    @mt("DeleteNote", permission=DELETE)
    def delete_note(self, msg: dict[str, Any]) -> dict[str, Any]:
        """Delete note id; every subscriber gets NoteDeleted."""
        note_id = msg.get("id")
        if not isinstance(note_id, int) or isinstance(note_id, bool):
            raise AppwsError("bad-request", "DeleteNote needs an integer 'id'")
        deleted, _ = Note.objects.filter(pk=note_id).delete()
        if not deleted:
            raise AppwsError("not-found", f"there is no note {note_id}")
        notify_on_commit(TOPIC, {"mt": "NoteDeleted", "id": note_id})
        return {"id": note_id}

    @mt("SubscribeNotes")
    async def subscribe_notes(self, msg: dict[str, Any]) -> dict[str, Any]:
        """Receive NoteAdded / NoteDeleted with this request's src."""
        await self.subscribe(TOPIC, msg)
        return {}

    @mt("ListPbxUsers")
    def list_pbx_users(self, msg: dict[str, Any]) -> dict[str, Any]:
        """The replicated PBX users the landing page lists (name, number) and their total."""
        users, total = listed_users()
        return {"users": users, "total": total}

    @mt("SubscribePbxUsers")
    async def subscribe_pbx_users(self, msg: dict[str, Any]) -> dict[str, Any]:
        """Receive PbxUsersChanged (with this src) whenever the PBX's users change."""
        await self.subscribe(USERS_TOPIC, msg)
        return {}

    async def get_badge(self, app: str, user: str) -> int:
        """The first count of ``user``'s badge: notes by others since they last listed them."""
        if app != "notes":
            return 0
        return await unread_count(user)

    async def pbx_connected(self, pbx: PbxInfo) -> None:
        """Ask the PBX about its node and this App object; the landing page shows it."""
        assert self.session is not None
        found: dict[str, Any] = {"apis": sorted(pbx.apis), "connected": True, "problem": ""}
        try:
            if "PbxApi" in pbx.apis:
                node = await self.request({"mt": "GetNodeInfo"}, api="PbxApi")
                found["node_info"] = _without_routing(node)
            if "PbxAdminApi" in pbx.apis:
                own = {"mt": "GetObject", "h323": self.session.sip}
                found["app_object"] = _without_routing(await self.request(own, api="PbxAdminApi"))
        except PeerRequestError as error:
            found["problem"] = str(error)[:255]
        await ConnectedPbx.objects.aupdate_or_create(identity=str(pbx.identity), defaults=found)

    async def pbx_disconnected(self, pbx: PbxInfo) -> None:
        await ConnectedPbx.objects.filter(identity=str(pbx.identity)).aupdate(connected=False)


def _show_badges(counts: dict[str, int]) -> None:
    # The note is stored either way: a badge that could not be updated is only logged.
    try:
        badges.set_many("notes", counts)
    except (PeerRequestError, LayerUnavailable) as error:
        logger.warning("notes: badge counts not updated: %s", error)


def _without_routing(reply: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in reply.items() if key not in ("mt", "api", "src")}

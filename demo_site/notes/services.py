"""The notes App Service: two Apps, one service, Django permissions deciding who deletes."""

from __future__ import annotations

from typing import Any

from appws import AppWebsocketConsumer, AppwsError, mt, notify_on_commit
from appws.exceptions import PeerRequestError
from appws.protocol import PbxInfo

from .models import ConnectedPbx, Note

TOPIC = "notes"
MAX_TEXT = 500
DELETE = "notes.delete_note"


class NotesService(AppWebsocketConsumer):
    """Shared notes: everyone lists, adds and watches; notes-admin may also delete."""

    apps = ("notes", "notes-admin")

    @mt("ListNotes")
    def list_notes(self, msg: dict[str, Any]) -> dict[str, Any]:
        """The newest 200 notes, and whether this session may delete."""
        assert self.session is not None
        notes = [note.as_message() for note in Note.objects.all()[:200]]
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
        note = Note.objects.create(text=text.strip(), author=self.session.dn or self.session.sip)
        event = {"mt": "NoteAdded", "note": note.as_message()}
        notify_on_commit(TOPIC, event)
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


def _without_routing(reply: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in reply.items() if key not in ("mt", "api", "src")}

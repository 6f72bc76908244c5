"""App Services used by the tests."""

from __future__ import annotations

import threading
from decimal import Decimal
from typing import Any
from uuid import UUID

from channels.routing import URLRouter

from appws import AppWebsocketConsumer, AppwsError, mt
from appws.server.routing import service_urls
from demo_site.services import EchoService


class NotesService(AppWebsocketConsumer):
    apps = ("notes", "notes-admin", "pbxapp")

    @mt("ListNotes")
    async def list_notes(self, msg: dict[str, Any]) -> dict[str, Any]:
        """List the notes."""
        return {"notes": ["one", "two"]}

    @mt("DeleteNote", permission="auth.delete_user")
    def delete_note(self, msg: dict[str, Any]) -> dict[str, Any]:
        """Delete a note (sync: runs in a worker thread)."""
        return {
            "deleted": msg.get("id"),
            "main_thread": threading.current_thread() is threading.main_thread(),
        }

    @mt("Fail")
    async def fail(self, msg: dict[str, Any]) -> None:
        raise AppwsError("not-found", "there is no note 7")

    @mt("Crash")
    async def crash(self, msg: dict[str, Any]) -> None:
        raise RuntimeError("internal detail that must stay on the server")

    @mt("SyncCrash")
    def sync_crash(self, msg: dict[str, Any]) -> None:
        raise KeyError("sync internal detail")

    @mt("Quiet")
    async def quiet(self, msg: dict[str, Any]) -> None:
        return None

    @mt("Multi")
    async def multi(self, msg: dict[str, Any]) -> None:
        for part in range(3):
            await self.reply(msg, {"part": part}, mt="MultiPart")

    @mt("BadReturn")
    async def bad_return(self, msg: dict[str, Any]) -> Any:
        return 42

    @mt("NotJson")
    async def not_json(self, msg: dict[str, Any]) -> dict[str, Any]:
        return {"values": {1, 2}, "big": float("inf")}

    @mt("Renamed", reply="RenamedDone")
    async def renamed(self, msg: dict[str, Any]) -> dict[str, Any]:
        return {}

    @mt("Session")
    async def whoami(self, msg: dict[str, Any]) -> dict[str, Any]:
        assert self.session is not None
        s = self.session
        return {
            "app": s.app,
            "sip": s.sip,
            "dn": s.dn,
            "domain": s.domain,
            "guid": s.guid,
            "info": s.info,
            "pbxObj": s.pbx_obj,
            "pbxInfo": s.pbx_info,
            "kind": s.kind.value,
            "hash": s.hash("seed", "text"),
            "encrypted": s.encrypt("seed1", "hello"),
        }

    @mt("MonitorStart", api="PbxSignal")
    async def monitor(self, msg: dict[str, Any]) -> dict[str, Any]:
        return {"monitoring": True}

    @mt("Subscribe")
    async def subscribe_topic(self, msg: dict[str, Any]) -> dict[str, Any]:
        await self.subscribe(msg["topic"], msg)
        return {}

    @mt("Unsubscribe")
    async def unsubscribe_topic(self, msg: dict[str, Any]) -> dict[str, Any]:
        return {"ended": await self.unsubscribe(msg["topic"], msg if msg.get("one") else None)}


class DbNotesService(NotesService):
    """NotesService for an App that exists only in the database."""

    apps = ("dbnotes",)


class BadgeNotesService(NotesService):
    """NotesService whose App shows a badge: its PBX sessions answer badge calls."""

    apps = ("badges",)
    badge_apps = ("badges",)


application = URLRouter(service_urls(NotesService, EchoService, DbNotesService, BadgeNotesService))


class DatabaseService(AppWebsocketConsumer):
    """Handlers that use the ORM, sync and async."""

    apps = ("notes",)

    @mt("CountUsersSync")
    def count_sync(self, msg: dict[str, Any]) -> dict[str, Any]:
        from django.contrib.auth.models import User

        return {"users": User.objects.count()}

    @mt("CountUsersAsync", db=True)
    async def count_async(self, msg: dict[str, Any]) -> dict[str, Any]:
        from django.contrib.auth.models import User

        return {"users": await User.objects.acount()}

    @mt("NoteValues")
    def note_values(self, msg: dict[str, Any]) -> dict[str, Any]:
        """The notes as .values() gives them: a datetime, a Decimal, a UUID, a lazy string."""
        from django.db.models import DecimalField, UUIDField, Value
        from django.utils.translation import gettext_lazy

        from demo_site.notes.models import Note

        money = DecimalField(max_digits=6, decimal_places=2)
        rows = Note.objects.annotate(
            price=Value(Decimal("12.25"), output_field=money),
            token=Value(UUID(msg["token"]), output_field=UUIDField()),
        ).values("text", "created", "price", "token")
        return {"notes": list(rows), "label": gettext_lazy("Notes")}


class ReplicatingService(AppWebsocketConsumer):
    """Replicates its PBX's users (the default columns); ``Ping`` shows the session is alive."""

    apps = ("pbxapp",)
    replicate_users = True
    #: Send ``Connected`` (api PbxApi) from the pbx_connected hook, which runs after the features.
    announce = False

    async def pbx_connected(self, pbx: Any) -> None:
        if self.announce:
            await self.send_peer({"mt": "Connected"}, api="PbxApi")

    @mt("Ping")
    async def ping(self, msg: dict[str, Any]) -> dict[str, Any]:
        return {}

    @mt("ReplicateAdd", api="PbxTableUsers")
    async def added(self, msg: dict[str, Any]) -> None:
        """Never called while appws replicates: its listener takes the live changes."""
        await self.send_peer({"mt": "HandlerSawAdd"}, api="PbxApi")

"""The read-only screens: live sessions (with their disconnect action) and server processes."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.contrib import admin, messages
from django.db.models import BooleanField, Count, ExpressionWrapper, Q, QuerySet
from django.http import HttpRequest

from appws.models import LiveSession, ServerProcess

if TYPE_CHECKING:
    LiveSessionModelAdmin = admin.ModelAdmin[LiveSession]
    ServerProcessModelAdmin = admin.ModelAdmin[ServerProcess]
else:  # Django's classes are not subscriptable at run time
    LiveSessionModelAdmin = ServerProcessModelAdmin = admin.ModelAdmin


class ReadOnlyAdmin:
    """Rows the server keeps true by itself: nobody adds, edits or deletes them here.

    Live sessions go away when their connection closes: use the disconnect action.
    """

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(LiveSession)
class LiveSessionAdmin(ReadOnlyAdmin, LiveSessionModelAdmin):
    list_display = [
        "app_column",
        "user_label",
        "dn",
        "login_kind",
        "mapped_user",
        "remote_address",
        "server",
        "connected_since",
        "last_activity",
        "stale",
    ]
    list_filter = ["app_name", "login_kind"]
    list_select_related = ["server", "user"]
    search_fields = ["app_name", "sip", "domain", "dn", "remote_address"]
    actions = ["disconnect"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[LiveSession]:
        from appws.live_sessions import stale_cutoff

        stale = ExpressionWrapper(
            Q(server__last_seen__lt=stale_cutoff()), output_field=BooleanField()
        )
        return super().get_queryset(request).annotate(is_stale=stale)

    @admin.display(description="App", ordering="app_name")
    def app_column(self, obj: LiveSession) -> str:
        return obj.app_name

    @admin.display(description="User", ordering="sip")
    def user_label(self, obj: LiveSession) -> str:
        return obj.user_label

    @admin.display(description="Mapped Django user", ordering="user__username")
    def mapped_user(self, obj: LiveSession) -> Any:
        return obj.user

    @admin.display(description="Connected since", ordering="connected_at")
    def connected_since(self, obj: LiveSession) -> Any:
        return obj.connected_at

    @admin.display(description="Stale", boolean=True, ordering="is_stale")
    def stale(self, obj: LiveSession) -> bool:
        return bool(getattr(obj, "is_stale", False))

    def has_disconnect_permission(self, request: HttpRequest) -> bool:
        opts = self.opts
        return bool(request.user.has_perm(f"{opts.app_label}.delete_{opts.model_name}"))

    @admin.action(description="Disconnect selected sessions", permissions=["disconnect"])
    def disconnect(self, request: HttpRequest, queryset: QuerySet[LiveSession]) -> None:
        from appws.live_sessions import disconnect_sessions

        count = disconnect_sessions(queryset)
        self.message_user(
            request,
            f"Disconnected {count} session{'' if count == 1 else 's'}.",
            messages.SUCCESS,
        )


@admin.register(ServerProcess)
class ServerProcessAdmin(ReadOnlyAdmin, ServerProcessModelAdmin):
    list_display = ["hostname", "pid", "ident", "started", "last_seen", "session_count"]
    search_fields = ["hostname", "ident"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[ServerProcess]:
        return super().get_queryset(request).annotate(live_session_count=Count("sessions"))

    @admin.display(description="Sessions", ordering="live_session_count")
    def session_count(self, obj: ServerProcess) -> int:
        return int(getattr(obj, "live_session_count", 0))

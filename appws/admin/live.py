"""The read-only screens: live sessions (with their disconnect action) and server processes."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.contrib import admin, messages
from django.db.models import BooleanField, Count, ExpressionWrapper, Q, QuerySet
from django.http import HttpRequest
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html

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


def _ago(moment: datetime) -> str:
    """How long since ``moment`` ("5 min", "3 h"), the full date and time on hover."""
    return format_html(
        '<span title="{}">{}</span>',
        date_format(timezone.localtime(moment), "DATETIME_FORMAT"),
        short_duration((timezone.now() - moment).total_seconds()),
    )


def short_duration(seconds: float) -> str:
    """``seconds`` in the one largest unit that fits: "<1 min", "5 min", "3 h", "2 d"."""
    minutes = int(max(seconds, 0) // 60)
    if minutes < 1:
        return "<1 min"
    if minutes < 60:
        return f"{minutes} min"
    if minutes < 48 * 60:
        return f"{minutes // 60} h"
    return f"{minutes // (24 * 60)} d"


@admin.register(LiveSession)
class LiveSessionAdmin(ReadOnlyAdmin, LiveSessionModelAdmin):
    # Two-line cells and relative times: the list fits a 1280-pixel screen beside the
    # admin's navigation and the filters.
    list_display = [
        "app_column",
        "user_label",
        "mapped_user",
        "origin",
        "connected_since",
        "active",
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
        # The login's kind below, by its short name (the filter spells it out).
        return format_html(
            '{}<br><small title="{}">{}</small>',
            obj.app_name,
            obj.get_login_kind_display(),
            obj.login_kind or "?",
        )

    @admin.display(description="User", ordering="sip")
    def user_label(self, obj: LiveSession) -> str:
        if not obj.dn:
            return obj.user_label
        return format_html("{}<br><small>{}</small>", obj.user_label, obj.dn)

    @admin.display(description="From", ordering="remote_address")
    def origin(self, obj: LiveSession) -> str:
        return format_html("{}<br><small>{}</small>", obj.remote_address or "?", obj.server)

    @admin.display(description="Django user", ordering="user__username")
    def mapped_user(self, obj: LiveSession) -> Any:
        return obj.user

    @admin.display(description="For", ordering="connected_at")
    def connected_since(self, obj: LiveSession) -> str:
        return _ago(obj.connected_at)

    @admin.display(description="Idle", ordering="last_activity")
    def active(self, obj: LiveSession) -> str:
        return _ago(obj.last_activity)

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

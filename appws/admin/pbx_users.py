"""The read-only screens of the replicated PBX users and of each PBX's replication state."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html

from appws.admin.live import ReadOnlyAdmin
from appws.models import PbxReplica, PbxUser, PbxUserGroup
from appws.pbx.users.rows import strip_secrets
from appws.pbx.users.store import NoHeldSweep, ReplicaKey, confirm_sweep

if TYPE_CHECKING:
    PbxUserModelAdmin = admin.ModelAdmin[PbxUser]
    PbxReplicaModelAdmin = admin.ModelAdmin[PbxReplica]
else:  # Django's classes are not subscriptable at run time
    PbxUserModelAdmin = PbxReplicaModelAdmin = admin.ModelAdmin


class GroupFilter(admin.SimpleListFilter):
    """Users in one PBX group (the groups' own table: the same on every database)."""

    title = "group"
    parameter_name = "group"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        names = PbxUserGroup.objects.order_by("name").values_list("name", flat=True).distinct()
        return [(name, name) for name in names]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.value()
        return queryset.filter(groups__name=value).distinct() if value else queryset


#: A user's page: every field but the digest, and the row as replicated.
DETAIL: list[str] = [
    "replica", "guid", "h323", "cn", "dn", "e164", "node", "loc", "hide", "apps",
    "emails_column", "groups_column", "user", "generation", "updated", "row",
]  # fmt: skip


@admin.register(PbxUser)
class PbxUserAdmin(ReadOnlyAdmin, PbxUserModelAdmin):
    list_display = [
        "h323",
        "cn",
        "e164",
        "replica",
        "emails_column",
        "groups_column",
        "hide",
        "user",
    ]
    list_filter = ["replica", GroupFilter, "hide"]
    list_select_related = ["replica", "user"]
    search_fields = ["h323", "cn", "dn", "e164", "emails__email"]
    fields = tuple(DETAIL)
    readonly_fields = DETAIL

    def get_queryset(self, request: HttpRequest) -> QuerySet[PbxUser]:
        return super().get_queryset(request).prefetch_related("emails", "groups")

    @admin.display(description="Emails")
    def emails_column(self, obj: PbxUser) -> str:
        return ", ".join(email.email for email in obj.emails.all())

    @admin.display(description="Groups")
    def groups_column(self, obj: PbxUser) -> str:
        return ", ".join(group.name for group in obj.groups.all())

    @admin.display(description="Row as replicated (its password removed)")
    def row(self, obj: PbxUser) -> str:
        # Stored without pwd already; stripped again so no change elsewhere can show one.
        text = json.dumps(strip_secrets(obj.raw), indent=2, ensure_ascii=False, sort_keys=True)
        return format_html("<pre>{}</pre>", text)


@admin.register(PbxReplica)
class PbxReplicaAdmin(ReadOnlyAdmin, PbxReplicaModelAdmin):
    list_display = [
        "__str__", "app_name", "running", "copy_done", "generation", "last_change",
        "row_count", "skipped_rows", "held_column",
    ]  # fmt: skip
    list_filter = ["running", "copy_done", "app_name"]
    search_fields = ["pbx", "domain", "app_name"]
    actions = ["confirm_held_sweep"]

    @admin.display(description="Held sweep")
    def held_column(self, obj: PbxReplica) -> str:
        if obj.held_generation is None:
            return "none"
        return f"{obj.held_sweep} users to delete (copy {obj.held_generation}, {obj.held_at:%c})"

    def has_confirm_permission(self, request: HttpRequest) -> bool:
        # Confirming deletes replicated users: the permission to delete them.
        return bool(request.user.has_perm("appws.delete_pbxuser"))

    @admin.action(
        description="Confirm the held sweep (delete those users)", permissions=["confirm"]
    )
    def confirm_held_sweep(self, request: HttpRequest, queryset: QuerySet[PbxReplica]) -> None:
        deleted, confirmed = 0, 0
        for replica in queryset:
            try:
                deleted += confirm_sweep(ReplicaKey(replica.domain, replica.pbx)).deleted
            except NoHeldSweep:
                continue
            confirmed += 1
        if not confirmed:
            self.message_user(request, "None of these PBXs has a sweep held.", messages.WARNING)
            return
        self.message_user(
            request,
            f"Confirmed {confirmed} held sweep(s): deleted {deleted} PBX user(s).",
            messages.SUCCESS,
        )

"""The read-only screen of connected PBXs, beside the live sessions."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.contrib import admin
from django.db.models import BooleanField, ExpressionWrapper, Q, QuerySet
from django.http import HttpRequest

from appws.admin.live import ReadOnlyAdmin
from appws.models import PbxConnection

if TYPE_CHECKING:
    PbxConnectionModelAdmin = admin.ModelAdmin[PbxConnection]
else:  # Django's classes are not subscriptable at run time
    PbxConnectionModelAdmin = admin.ModelAdmin


@admin.register(PbxConnection)
class PbxConnectionAdmin(ReadOnlyAdmin, PbxConnectionModelAdmin):
    list_display = [
        "app_name",
        "identity_column",
        "apis_column",
        "dns",
        "version",
        "server",
        "connected_at",
        "stale",
    ]
    list_filter = ["app_name", "domain"]
    list_select_related = ["server"]
    search_fields = ["app_name", "domain", "pbx", "sip", "dns"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[PbxConnection]:
        from appws.live_sessions import stale_cutoff

        stale = ExpressionWrapper(
            Q(server__last_seen__lt=stale_cutoff()), output_field=BooleanField()
        )
        return super().get_queryset(request).annotate(is_stale=stale)

    @admin.display(description="PBX (App object@PBX.domain)", ordering="pbx")
    def identity_column(self, obj: PbxConnection) -> str:
        return str(obj.identity)

    @admin.display(description="APIs")
    def apis_column(self, obj: PbxConnection) -> str:
        apis = obj.apis if isinstance(obj.apis, list) else []
        return ", ".join(sorted(str(api) for api in apis)) or "none"

    @admin.display(description="Stale", boolean=True, ordering="is_stale")
    def stale(self, obj: PbxConnection) -> bool:
        return bool(getattr(obj, "is_stale", False))

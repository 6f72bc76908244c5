"""The admin: connected PBXs with identity and APIs (read-only), and the App's PBX rate limit."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from appws.models import App, PbxConnection, ServerProcess
from tests.integration.test_admin import admin, form_data, make_app, superuser

__all__ = ["admin", "superuser"]  # fixtures

pytestmark = pytest.mark.django_db

PBXS = "/admin/appws/pbxconnection/"
APPS = "/admin/appws/app/"


def make_connection(*, pbx: str = "pbx-main", stale: bool = False) -> PbxConnection:
    seen = timezone.now() - (timedelta(hours=1) if stale else timedelta())
    server, _ = ServerProcess.objects.get_or_create(
        ident=f"host:{int(stale)}:x",
        defaults={"hostname": "host", "pid": int(stale), "started": seen, "last_seen": seen},
    )
    return PbxConnection.objects.create(
        app_name="pbxapp",
        domain="example.com",
        pbx=pbx,
        sip="pbxapp-obj",
        dns=f"{pbx}.example.com",
        apis=["PbxSignal", "PbxApi"],
        version="13r3",
        channel_name=f"chan!{pbx}",
        server=server,
        connected_at=seen,
    )


def test_the_pbx_list_shows_identity_apis_process_and_staleness(admin: Client) -> None:
    make_connection()
    make_connection(pbx="pbx-old", stale=True)
    response = admin.get(PBXS)
    assert response.status_code == 200
    page = response.content.decode()
    assert "pbxapp-obj@pbx-main.example.com" in page
    assert "PbxApi, PbxSignal" in page
    assert "pbx-main.example.com" in page and "host:0" in page
    rows = {row.pbx: row.is_stale for row in response.context["cl"].result_list}
    assert rows == {"pbx-main": False, "pbx-old": True}


def test_the_pbx_list_is_linked_from_the_admin_index(admin: Client) -> None:
    assert PBXS in admin.get("/admin/").content.decode()


def test_pbx_connections_are_read_only(admin: Client) -> None:
    row = make_connection()
    assert admin.get(f"{PBXS}add/").status_code == 403
    assert admin.post(f"{PBXS}{row.pk}/change/", {"pbx": "x"}).status_code == 403
    assert admin.post(f"{PBXS}{row.pk}/delete/", {"post": "yes"}).status_code == 403
    assert PbxConnection.objects.get(pk=row.pk).pbx == "pbx-main"


def test_the_app_form_sets_and_clears_the_pbx_rate_limit(admin: Client) -> None:
    app = make_app()
    assert "pbx_rate_limit" in admin.get(f"{APPS}{app.pk}/change/").content.decode()
    admin.post(f"{APPS}{app.pk}/change/", form_data(pbx_rate_limit="500"))
    assert App.objects.get(pk=app.pk).pbx_rate_limit == 500.0
    admin.post(f"{APPS}{app.pk}/change/", form_data(pbx_rate_limit=""))
    assert App.objects.get(pk=app.pk).pbx_rate_limit is None


def test_the_app_form_refuses_a_negative_pbx_rate_limit(admin: Client) -> None:
    app = make_app()
    response = admin.post(f"{APPS}{app.pk}/change/", form_data(pbx_rate_limit="-1"))
    assert response.status_code == 200  # the form again, with the error
    assert response.context["adminform"].form.errors["pbx_rate_limit"]
    assert App.objects.get(pk=app.pk).pbx_rate_limit is None

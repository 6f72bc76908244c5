"""HTTP URLs of appws; include them under a prefix: ``path("appws/", include("appws.urls"))``."""

from __future__ import annotations

from django.urls import path

from appws.http import issuer as views

app_name = "appws"

urlpatterns = [
    path("login", views.issue_login, name="issue-login"),
]

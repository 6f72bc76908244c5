"""URLs of the Apps' pages and assets: ``path("apps/", include("appws.app_urls"))``."""

from __future__ import annotations

from django.urls import re_path

from appws.http import pages

urlpatterns = [
    re_path(r"^(?P<build>[0-9a-fA-F]+)/(?P<name>[^?#]+)$", pages.app_file, name="appws-file"),
    re_path(r"^(?P<name>[^/]+)$", pages.app_page, name="appws-page"),
]

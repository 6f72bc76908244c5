"""The demo's landing page: what it shows to whom."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client

pytestmark = pytest.mark.django_db

ADMIN_LINKS = ("/admin/appws/app/", "/admin/appws/livesession/", "/admin/appws/app/services/")


def page_for(user: User | None) -> str:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client.get("/").content.decode()


def test_admin_links_are_shown_to_staff_only() -> None:
    staff = User.objects.create_user("staff", is_staff=True)
    plain = User.objects.create_user("plain")
    assert all(link in page_for(staff) for link in ADMIN_LINKS)
    for page in (page_for(plain), page_for(None)):
        assert not any(f'href="{link}' in page for link in (*ADMIN_LINKS, "/admin/"))


def test_every_page_has_a_favicon(client: Client) -> None:
    page = client.get("/").content.decode()
    assert 'rel="icon"' in page and "favicon.svg" in page
    login = client.get("/accounts/login/").content.decode()
    assert 'rel="icon"' in login
    from django.contrib.staticfiles import finders

    assert finders.find("demo_site/favicon.svg")

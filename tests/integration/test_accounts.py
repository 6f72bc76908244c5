"""Where an App comes from: APPWS["APPS"] over the database row, and the instance domain."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured

from appws.accounts import (
    account_domain,
    instance_domain,
    is_settings_app,
    login_password,
    settings_account,
    settings_entry,
)
from appws.models import App


def test_instance_domain_prefers_the_apps_own_then_the_setting_then_the_host(
    settings: Any,
) -> None:
    assert instance_domain("app.example.com", "host.example.org:8443") == "app.example.com"
    assert instance_domain(None, "host.example.org:8443") == "host.example.org"
    assert instance_domain("", "") == ""
    settings.APPWS = {**settings.APPWS, "DOMAIN": "site.example.net"}
    assert instance_domain(None, "host.example.org") == "site.example.net"
    assert instance_domain("app.example.com", "host.example.org") == "app.example.com"


def test_settings_entries(settings: Any) -> None:
    assert settings_entry("echo") == {"password": "echo"}
    assert settings_entry("no-such-app") is None
    assert is_settings_app("echo") and not is_settings_app("no-such-app")
    account = settings_account("notes-admin")
    assert account is not None
    assert account.permissions == {"auth.delete_user"}
    assert account.check_logins == {"notes", "notes-admin"}


def test_an_entry_without_a_password_fails_when_looked_up(settings: Any) -> None:
    settings.APPWS = {"APPS": {"broken": {}, "fine": {"password": "x"}}}
    assert is_settings_app("fine")
    with pytest.raises(ImproperlyConfigured, match='string "password"'):
        settings_entry("broken")


@pytest.mark.django_db
def test_an_entry_overrides_the_row_of_the_same_name() -> None:
    shadowed = App(name="notes", domain="row.example.com")
    shadowed.set_password("row-password")
    shadowed.save()
    assert login_password(shadowed) == "notes-secret"
    assert account_domain(shadowed) == "notes.example.com"
    own = App(name="db-only", domain="")
    own.set_password("row-password")
    own.save()
    assert login_password(own) == "row-password"
    assert account_domain(own) is None

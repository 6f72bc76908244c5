"""The per-App rate limit of PBX sessions: APPWS["APPS"] entry and App row, as AppAccount."""

from __future__ import annotations

from typing import Any

import pytest

from appws import checks
from appws.accounts import load_app, settings_account
from appws.models import App


@pytest.mark.parametrize("value", [-1, "500", True, [1]])
def test_a_bad_pbx_rate_limit_is_an_error(settings: Any, value: Any) -> None:
    settings.APPWS = {"APPS": {"pbxapp": {"password": "x", "pbx_rate_limit": value}}}
    messages = checks.check_appws_setting(None)
    assert [m.id for m in messages] == ["appws.E003"]
    assert "pbx_rate_limit" in messages[0].msg and repr(value) in messages[0].msg


@pytest.mark.parametrize("value", [0, 500, 2.5, None])
def test_a_pbx_rate_limit_of_zero_or_more_or_none_is_fine(settings: Any, value: Any) -> None:
    settings.APPWS = {"APPS": {"pbxapp": {"password": "x", "pbx_rate_limit": value}}}
    assert checks.check_appws_setting(None) == []


def test_a_settings_app_exposes_its_pbx_rate_limit(settings: Any) -> None:
    settings.APPWS = {
        "APPS": {"fast": {"password": "x", "pbx_rate_limit": 500}, "plain": {"password": "x"}}
    }
    fast, plain = settings_account("fast"), settings_account("plain")
    assert fast is not None and fast.pbx_rate_limit == 500.0
    assert plain is not None and plain.pbx_rate_limit is None


@pytest.mark.django_db(transaction=True)
async def test_a_database_app_exposes_its_pbx_rate_limit() -> None:
    app = App(name="dbpbx", pbx_rate_limit=0)
    app.set_password("pw")
    await app.asave()
    other = App(name="dbplain")
    other.set_password("pw")
    await other.asave()
    account = await load_app("dbpbx")
    assert account is not None and account.pbx_rate_limit == 0.0
    cached = await load_app("dbpbx")  # the cached copy carries it too
    assert cached is not None and cached.pbx_rate_limit == 0.0
    plain = await load_app("dbplain")
    assert plain is not None and plain.pbx_rate_limit is None

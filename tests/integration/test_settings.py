"""The APPWS setting as a typed object: built once, rebuilt when the setting changes."""

from __future__ import annotations

from dataclasses import FrozenInstanceError
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from appws.conf import DEFAULTS, AppwsSettings, get_settings, problems


def test_every_key_is_an_attribute_with_the_default(settings: Any) -> None:
    del settings.APPWS
    current = get_settings()
    for key, default in DEFAULTS.items():
        assert getattr(current, key.lower()) == default
    assert current.as_dict() == DEFAULTS


def test_the_object_is_built_once_and_frozen() -> None:
    current = get_settings()
    assert get_settings() is current
    with pytest.raises(FrozenInstanceError):
        current.max_depth = 3  # type: ignore[misc]


def test_the_settings_fixture_rebuilds_it(settings: Any) -> None:
    before = get_settings()
    settings.APPWS = {**settings.APPWS, "MAX_DEPTH": 7}
    assert get_settings() is not before
    assert get_settings().max_depth == 7
    assert get_settings().as_dict()["MAX_DEPTH"] == 7


def test_override_settings_rebuilds_it_and_restores_it() -> None:
    before = get_settings().group_prefix
    with override_settings(APPWS={"GROUP_PREFIX": "other"}):
        assert get_settings().group_prefix == "other"
    assert get_settings().group_prefix == before


def test_derived_values(settings: Any) -> None:
    settings.APPWS = {"MAX_MESSAGE_BYTES": 4096, "MAX_LOGIN_MESSAGE_BYTES": 8192}
    assert get_settings().login_frame_limit == 4096
    assert get_settings().login_budget_burst == 4 * 4096
    settings.APPWS = {"LOGIN_TIMEOUT": 0, "LOGIN_FAILURE_WINDOW": 60}
    assert get_settings().login_slot_timeout == 60


def test_unknown_keys_are_refused_at_run_time(settings: Any) -> None:
    settings.APPWS = {"MAX_MESAGE_BYTES": 10}
    with pytest.raises(ImproperlyConfigured, match="MAX_MESAGE_BYTES"):
        get_settings()


def test_a_setting_that_is_not_a_dict_is_refused_at_run_time(settings: Any) -> None:
    settings.APPWS = [("APPS", {})]
    with pytest.raises(ImproperlyConfigured, match="must be a dict"):
        get_settings()


def test_other_problems_are_reported_by_the_checks_not_refused(settings: Any) -> None:
    # A send window below one frame is an error for manage.py check, and still
    # what the server then does (tests of the slow-reader close rely on it).
    settings.APPWS = {"SEND_WINDOW_BYTES": 20_000}
    assert [problem.id for problem in problems(settings.APPWS)] == ["appws.E008"]
    assert get_settings().send_window_bytes == 20_000


def test_from_setting_takes_an_empty_or_missing_setting() -> None:
    assert AppwsSettings.from_setting(None) == AppwsSettings.from_setting({})

"""The PBX users' settings: defaults, and the check of the sweep limit."""

from __future__ import annotations

from typing import Any

import pytest

from appws import checks
from appws.conf import DEFAULTS, get_settings


def test_the_defaults_keep_sweeps_below_half_and_the_mapping_off() -> None:
    assert DEFAULTS["PBX_USERS_SWEEP_LIMIT"] == 0.5
    options = get_settings()
    assert not any(
        (
            options.pbx_users_map,
            options.pbx_users_map_create,
            options.pbx_users_map_active,
            options.pbx_users_map_existing,
            options.pbx_users_map_staff,
        )
    )


@pytest.mark.parametrize("value", [-0.1, 1.5, "0.5", None, True])
def test_a_sweep_limit_outside_0_to_1_is_an_error(settings: Any, value: Any) -> None:
    settings.APPWS = {"PBX_USERS_SWEEP_LIMIT": value}
    messages = checks.check_appws_setting(None)
    assert [m.id for m in messages] == ["appws.E006"]
    assert "PBX_USERS_SWEEP_LIMIT" in messages[0].msg and "from 0 to 1" in messages[0].msg


@pytest.mark.parametrize("value", [0, 0.25, 1])
def test_a_sweep_limit_from_0_to_1_is_fine(settings: Any, value: Any) -> None:
    settings.APPWS = {"PBX_USERS_SWEEP_LIMIT": value}
    assert checks.check_appws_setting(None) == []

"""``manage.py appws_fakepbx``: the option errors it names before connecting."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command


def test_watch_needs_a_users_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKEPBX_TEST_PW", "secret")
    with pytest.raises(CommandError, match=r"--watch needs --users FILE\.json"):
        call_command(
            "appws_fakepbx", "ws://127.0.0.1:9/apps/notes", "--password-env", "FAKEPBX_TEST_PW",
            "--watch",
        )  # fmt: skip

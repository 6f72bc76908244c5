"""The landing page's list of PBX users in a real Chromium: it follows the PBX live."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.browser import WAIT, launched_chromium, log_in
from tests.e2e.daphne import ROOT, provisioned_demo
from tests.e2e.daphne import manage as run_manage
from tests.e2e.databases import e2e_database

pytestmark = pytest.mark.e2e

PASSWORD = "notes-pbx-secret"


def test_the_list_changes_without_a_reload_as_the_pbx_changes(tmp_path: Path) -> None:
    from playwright.sync_api import expect

    users = tmp_path / "pbx_users.json"
    users.write_text((ROOT / "demo_site" / "pbx_users.json").read_text())
    env = {"NOTES_PBX_PASSWORD": PASSWORD}
    with provisioned_demo(e2e_database(tmp_path)) as site, launched_chromium() as browser:
        env.update(site.env)
        run_manage(
            env, "appws_app", "set-password", "notes", "--password-env", "NOTES_PBX_PASSWORD"
        )
        page = browser.new_context().new_page()
        log_in(page, site.http_url, "alice", "alice-demo")
        state = page.locator("#pbx-users-state")
        expect(state).to_have_attribute("data-state", "online", timeout=WAIT)
        expect(page.locator("#pbx-users-empty")).to_be_visible()
        page.evaluate("window.notReloaded = true")
        rows = page.locator("#pbx-user-rows tr")
        pbx = subprocess.Popen(
            [
                sys.executable, "manage.py", "appws_fakepbx", f"{site.url}/apps/notes",
                "--password-env", "NOTES_PBX_PASSWORD", "--users", str(users), "--watch",
            ],
            cwd=ROOT, env={**os.environ, **env}, stdout=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            expect(rows).to_have_count(5, timeout=WAIT)  # reception is hidden
            expect(rows.first).to_have_text("Carol Caller201")
            expect(page.locator("#pbx-users-empty")).to_be_hidden()
            listed = [row for row in json.loads(users.read_text()) if row["h323"] != "carol"]
            listed[0]["e164"] = "299"  # dave's new number
            users.write_text(json.dumps(listed))
            expect(rows).to_have_count(4, timeout=WAIT)
            expect(rows.first).to_have_text("Dave Dialer299", timeout=WAIT)
        finally:
            pbx.send_signal(signal.SIGINT)
            pbx.wait(timeout=30)
        assert page.evaluate("window.notReloaded") is True

"""The notes App framed in a stand-in for myApps, in a real Chromium against a real daphne.

The parent page plays myApps' part: its message listener, like the vendor's, ignores every
message whose data is not a string; it answers ``getLogin`` with a real issued login (here
from the site's login issuer, where myApps would ask the PBX) posted back as a JSON string.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.e2e.browser import WAIT, launched_chromium
from tests.e2e.daphne import DaphneProcess, provisioned_demo
from tests.e2e.databases import e2e_database

pytestmark = pytest.mark.e2e

PARENT_PATH = "/e2e-myapps-parent.htm"  # answered by the browser (page.route), not the site

PARENT_PAGE = """<!doctype html>
<html><body>
<iframe id="app" src="/apps/notes.htm" style="width: 800px; height: 600px"></iframe>
<script>
  window.asked = [];
  window.addEventListener("message", async (event) => {
    if (typeof event.data !== "string") return;  // what myApps does with anything else
    let msg;
    try { msg = JSON.parse(event.data); } catch (e) { return; }
    if (msg.mt !== "getLogin") return;
    window.asked.push(msg);
    const csrf = (document.cookie.match(/(?:^|; )csrftoken=([^;]*)/) || [])[1] || "";
    const response = await fetch("/appws/login", {
      method: "POST",
      credentials: "same-origin",
      headers: {"Content-Type": "application/json", "X-CSRFToken": decodeURIComponent(csrf)},
      body: JSON.stringify({app: msg.app, challenge: msg.challenge}),
    });
    const login = await response.json();
    event.source.postMessage(JSON.stringify({mt: "Login", ...login}), "*");
  });
</script>
</body></html>
"""


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DaphneProcess]:
    with provisioned_demo(e2e_database(tmp_path_factory.mktemp("myapps"))) as server:
        yield server


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with launched_chromium() as chromium:
        yield chromium


def test_a_framed_app_logs_in_through_a_parent_that_reads_only_strings(browser, site):
    from playwright.sync_api import expect

    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{site.http_url}/accounts/login/?next=/")
    page.fill("#id_username", "alice")
    page.fill("#id_password", "alice-demo")
    page.click("button[type=submit]")
    expect(page.locator(".apps")).to_be_visible(timeout=WAIT)
    page.route(
        f"{site.http_url}{PARENT_PATH}",
        lambda route: route.fulfill(status=200, content_type="text/html", body=PARENT_PAGE),
    )
    page.goto(f"{site.http_url}{PARENT_PATH}")
    app = page.frame_locator("#app")
    expect(app.locator("#state")).to_have_attribute("data-state", "online", timeout=WAIT)
    expect(app.locator("#who")).to_have_text("Alice Example")
    asked = page.evaluate("window.asked")
    assert asked and asked[-1]["app"] == "notes"
    context.close()

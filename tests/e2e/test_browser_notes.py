"""The notes App in a real headless Chromium against a real daphne."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from tests.e2e.browser import WAIT, launched_chromium, log_in
from tests.e2e.daphne import DaphneProcess, provisioned_demo
from tests.e2e.databases import e2e_database

pytestmark = pytest.mark.e2e

BUILD_URL = re.compile(r"/apps/[0-9a-f]{12}/notes(-admin)?\.htm$")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DaphneProcess]:
    with provisioned_demo(e2e_database(tmp_path_factory.mktemp("notes"))) as server:
        yield server


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with launched_chromium() as chromium:
        yield chromium


def logged_in(browser, site, username: str, password: str):
    from playwright.sync_api import expect

    context = browser.new_context()
    page = context.new_page()
    log_in(page, site.http_url, username, password)
    expect(page.locator(".apps")).to_be_visible(timeout=WAIT)
    return context


def open_app(context, site, app: str = "notes"):
    from playwright.sync_api import expect

    page = context.new_page()
    page.goto(f"{site.http_url}/apps/{app}.htm")
    expect(page).to_have_url(BUILD_URL, timeout=WAIT)  # CheckBuild moved it to the build
    expect(page.locator("#state")).to_have_attribute("data-state", "online", timeout=WAIT)
    return page


def add_note(page, text: str) -> None:
    page.fill("#text", text)
    page.press("#text", "Enter")


def test_login_form_then_a_note_added_in_one_page_appears_in_the_other(browser, site):
    from playwright.sync_api import expect

    context = logged_in(browser, site, "alice", "alice-demo")
    first, second = open_app(context, site), open_app(context, site)
    expect(first.locator("#who")).to_have_text("Alice Example")
    add_note(first, "hello from the first page")
    expect(second.locator(".note .text").first).to_contain_text(
        "hello from the first page", timeout=WAIT
    )
    context.close()


def test_notes_offers_no_delete_and_the_server_refuses_a_forged_one(browser, site):
    from playwright.sync_api import expect

    context = logged_in(browser, site, "alice", "alice-demo")
    page = open_app(context, site)
    add_note(page, "try to delete me")
    expect(page.locator(".note").first).to_contain_text("try to delete me", timeout=WAIT)
    expect(page.locator("button.delete")).to_have_count(0)
    note_id = int(page.locator(".note").first.get_attribute("data-id"))
    outcome = page.evaluate(
        """(id) => window.notesApp.conn.request({mt: "DeleteNote", id}).then(
               () => "deleted", (error) => error.code)""",
        note_id,
    )
    assert outcome == "forbidden"
    expect(page.locator(f'.note[data-id="{note_id}"]')).to_have_count(1)
    context.close()


def test_notes_admin_deletes_and_every_page_sees_it(browser, site):
    from playwright.sync_api import expect

    alice = logged_in(browser, site, "alice", "alice-demo")
    watcher = open_app(alice, site)
    bob = logged_in(browser, site, "bob", "bob-demo")
    admin = open_app(bob, site, "notes-admin")
    add_note(admin, "short-lived note")
    note = watcher.locator(".note", has_text="short-lived note")
    expect(note).to_have_count(1, timeout=WAIT)
    admin.locator(".note", has_text="short-lived note").locator("button.delete").click()
    expect(note).to_have_count(0, timeout=WAIT)
    alice.close()
    bob.close()


def test_a_page_under_a_stale_build_lands_on_the_current_build(browser, site):
    from playwright.sync_api import expect

    context = logged_in(browser, site, "alice", "alice-demo")
    page = context.new_page()
    page.goto(f"{site.http_url}/apps/0000aaaa/notes.htm")
    expect(page).to_have_url(BUILD_URL, timeout=WAIT)
    assert "/0000aaaa/" not in page.url
    expect(page.locator("#state")).to_have_attribute("data-state", "online", timeout=WAIT)
    context.close()


def test_without_a_site_login_the_page_says_so(browser, site):
    from playwright.sync_api import expect

    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{site.http_url}/apps/notes.htm")
    expect(page.locator("#problem")).to_be_visible(timeout=WAIT)
    expect(page.locator("#problem a")).to_have_attribute("href", re.compile("/accounts/login/"))
    context.close()


def test_the_page_recovers_after_the_server_restarts(browser, site):
    from playwright.sync_api import expect

    context = logged_in(browser, site, "alice", "alice-demo")
    page = open_app(context, site)
    site.stop()
    expect(page.locator("#state")).to_have_attribute("data-state", "offline", timeout=WAIT)
    site.start()
    expect(page.locator("#state")).to_have_attribute("data-state", "online", timeout=40_000)
    add_note(page, "after the restart")
    expect(page.locator(".note").first).to_contain_text("after the restart", timeout=WAIT)
    context.close()


def test_a_refused_login_is_named_not_shown_as_reconnecting(browser, site):
    from playwright.sync_api import expect

    context = logged_in(browser, site, "alice", "alice-demo")  # not allowed notes-admin
    page = context.new_page()
    page.goto(f"{site.http_url}/apps/notes-admin.htm")
    state = page.locator("#state")
    expect(state).to_have_attribute("data-state", "ended", timeout=WAIT)
    expect(state).to_have_text("no access to this App")
    context.close()


def test_an_admin_disconnect_is_named_not_shown_as_reconnecting(browser, site):
    from playwright.sync_api import expect

    context = logged_in(browser, site, "alice", "alice-demo")
    page = open_app(context, site)
    admin = browser.new_context().new_page()
    admin.goto(f"{site.http_url}/admin/login/?next=/admin/appws/livesession/")
    admin.fill("#id_username", "admin")
    admin.fill("#id_password", "admin-demo")
    admin.click("input[type=submit]")
    rows = admin.locator("#result_list tbody tr", has_text="alice")
    expect(rows.first).to_be_visible(timeout=WAIT)
    for index in range(rows.count()):
        rows.nth(index).locator("input.action-select").check()
    admin.select_option("select[name=action]", "disconnect")
    admin.click("button[name=index]")
    expect(admin.locator(".messagelist")).to_contain_text("Disconnected", timeout=WAIT)
    state = page.locator("#state")
    expect(state).to_have_attribute("data-state", "ended", timeout=WAIT)
    expect(state).to_have_text("disconnected by an administrator")
    admin.context.close()
    context.close()


def test_the_live_sessions_list_fits_a_1280_pixel_screen(browser, site):
    from playwright.sync_api import expect

    context = logged_in(browser, site, "alice", "alice-demo")
    open_app(context, site)
    admin = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
    admin.goto(f"{site.http_url}/admin/login/?next=/admin/appws/livesession/")
    admin.fill("#id_username", "admin")
    admin.fill("#id_password", "admin-demo")
    admin.click("input[type=submit]")
    expect(admin.locator("#result_list tbody tr").first).to_be_visible(timeout=WAIT)
    # Every column in sight: neither the page nor the results scroll sideways.
    widths = admin.evaluate(
        """() => {
            const results = document.querySelector('#changelist .results');
            const page = document.documentElement;
            return [results.scrollWidth, results.clientWidth, page.scrollWidth, page.clientWidth];
        }"""
    )
    assert widths[0] <= widths[1] and widths[2] <= widths[3], widths
    last = admin.locator("#result_list thead th").last.bounding_box()
    assert last is not None and last["x"] + last["width"] <= 1280
    admin.context.close()
    context.close()

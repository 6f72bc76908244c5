"""Regenerate the screenshots in docs/images/ from the running demo.

    .venv/bin/python docs/screenshots.py

Starts the demo under daphne on a temporary database, provisions it, opens two
notes pages (alice, bob) so that live sessions exist, and photographs the notes
App and the admin screens with the system's Chromium.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from appws.testing import DaphneProcess

ROOT = Path(__file__).resolve().parents[1]
IMAGES = ROOT / "docs" / "images"
# The system's Chromium, headless, without the sandbox (root in containers) or the GPU.
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]


def manage(env: dict[str, str], *args: str) -> None:
    """Run the demo's ``manage.py`` with ``env`` added."""
    subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env={**os.environ, **env}, check=True
    )


def main() -> None:
    from playwright.sync_api import expect, sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        env = {
            "DJANGO_SETTINGS_MODULE": "demo_site.settings",
            "APPWS_DEMO_DB": str(Path(tmp) / "db.sqlite3"),
        }
        manage(env, "migrate", "--verbosity", "0")
        manage(env, "demo_setup")
        server = DaphneProcess("demo_site.asgi:application", env=env, cwd=ROOT).start()
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(
                    executable_path=shutil.which("chromium"), args=CHROMIUM_FLAGS
                )
                shoot(browser, server.http_url, expect)
                browser.close()
        finally:
            server.stop()


def log_in(browser, base: str, user: str, password: str, width: int = 1100):
    context = browser.new_context(viewport={"width": width, "height": 700})
    page = context.new_page()
    page.goto(f"{base}/accounts/login/?next=/")
    page.fill("#id_username", user)
    page.fill("#id_password", password)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/")
    return context, page


def shoot(browser, base: str, expect) -> None:
    alice, home = log_in(browser, base, "alice", "alice-demo")
    home.screenshot(path=IMAGES / "home.png")
    notes = alice.new_page()
    notes.set_viewport_size({"width": 900, "height": 560})
    notes.goto(f"{base}/apps/notes.htm")
    expect(notes.locator("#state")).to_have_attribute("data-state", "online", timeout=15000)
    for text in (
        "Order more coffee beans",
        "Team lunch on Friday at noon",
        "Call the printer service about the jam on floor 2",
    ):
        notes.fill("#text", text)
        notes.press("#text", "Enter")
        expect(notes.locator(".note", has_text=text)).to_have_count(1)

    bob, _ = log_in(browser, base, "bob", "bob-demo")
    admin_notes = bob.new_page()
    admin_notes.set_viewport_size({"width": 900, "height": 560})
    admin_notes.goto(f"{base}/apps/notes-admin.htm")
    expect(admin_notes.locator("button.delete").first).to_be_visible(timeout=15000)
    notes.screenshot(path=IMAGES / "notes.png")
    admin_notes.screenshot(path=IMAGES / "notes-admin.png")

    staff, page = log_in(browser, base, "admin", "admin-demo", width=1800)
    for name, path in [
        ("admin-apps", "/admin/appws/app/"),
        ("admin-live-sessions", "/admin/appws/livesession/"),
        ("admin-catalogue", "/admin/appws/app/services/"),
    ]:
        page.goto(base + path)
        page.screenshot(path=IMAGES / f"{name}.png", full_page=True)
    page.goto(base + "/admin/appws/app/")
    page.click("text=notes-admin")
    page.screenshot(path=IMAGES / "admin-app-form.png", full_page=True)
    for context in (alice, bob, staff):
        context.close()


if __name__ == "__main__":
    main()

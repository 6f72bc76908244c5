"""How the browser tests start the system's Chromium and log in to the demo site.

docs/screenshots.py has its own copy of the flags: it runs outside the test suite.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from tests.conftest import require_tool

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
WAIT = 10_000  # ms: generous for a loaded CI machine; nothing here measures speed


@contextmanager
def launched_chromium() -> Iterator[Any]:
    """The system's headless Chromium under Playwright (never a downloaded browser)."""
    chromium = require_tool("chromium", "chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_FLAGS)
        try:
            yield browser
        finally:
            browser.close()


def log_in(page: Any, http_url: str, username: str, password: str) -> None:
    """Log in through the demo's login form and land on its front page."""
    page.goto(f"{http_url}/accounts/login/?next=/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("button[type=submit]")

"""App pages and assets under build-numbered URLs."""

from __future__ import annotations

import pytest

from appws.builds import current_build

pytestmark = pytest.mark.django_db


@pytest.fixture
def app_dir(tmp_path, settings):
    (tmp_path / "demo.htm").write_text("<!doctype html><title>demo</title>", encoding="utf-8")
    (tmp_path / "demo.js").write_text("console.log('demo');", encoding="utf-8")
    (tmp_path / "img").mkdir()
    (tmp_path / "img" / "logo.svg").write_text("<svg/>", encoding="utf-8")
    settings.APPWS = {**settings.APPWS, "APP_DIRS": [tmp_path]}
    return tmp_path


def test_build_is_lowercase_hex_and_follows_content(app_dir):
    build = current_build()
    assert build and all(c in "0123456789abcdef" for c in build)
    assert current_build() == build
    (app_dir / "demo.js").write_text("console.log('changed');", encoding="utf-8")
    assert current_build() != build


def test_configured_build_wins(app_dir, settings):
    settings.APPWS = {**settings.APPWS, "BUILD": "abc123"}
    assert current_build() == "abc123"


def test_no_app_dirs_no_build():
    assert current_build() is None


def test_page_without_build_is_served_uncached_and_sets_csrf_cookie(client, app_dir):
    response = client.get("/apps/demo.htm")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/html; charset=utf-8"
    assert response["Cache-Control"] == "no-cache"
    assert b"".join(response.streaming_content).startswith(b"<!doctype html>")
    assert "csrftoken" in response.cookies


def test_current_build_is_immutable(client, app_dir):
    build = current_build()
    response = client.get(f"/apps/{build}/demo.js")
    assert response.status_code == 200
    assert response["Cache-Control"] == "public, max-age=31536000, immutable"
    assert response["Content-Type"] == "text/javascript; charset=utf-8"
    assert client.get(f"/apps/{build}/img/logo.svg")["Content-Type"].startswith("image/svg+xml")


def test_old_build_is_served_but_not_cached(client, app_dir):
    response = client.get("/apps/0123abcd/demo.htm")
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-cache"


def test_the_browser_client_is_served_beside_the_apps(client, app_dir):
    response = client.get(f"/apps/{current_build()}/appws.js")
    assert response.status_code == 200
    assert b"AppWS" in b"".join(response.streaming_content)


@pytest.mark.parametrize(
    "url",
    [
        "/apps/missing.htm",
        "/apps/abcd/missing.js",
        "/apps/abcd/../settings.py",
        "/apps/abcd/%2e%2e/%2e%2e/manage.py",
        "/apps/abcd//etc/passwd",
    ],
)
def test_nothing_outside_the_app_dirs(client, app_dir, url):
    assert client.get(url).status_code == 404


def test_only_safe_methods(client, app_dir):
    assert client.post("/apps/demo.htm").status_code in (403, 405)


def test_app_pages_may_be_framed_by_myapps(client, app_dir):
    response = client.get("/apps/demo.htm")
    assert "X-Frame-Options" not in response
    assert "Content-Security-Policy" not in response


def test_frame_ancestors_setting(client, app_dir, settings):
    settings.APPWS = {**settings.APPWS, "FRAME_ANCESTORS": ["https://pbx.example.com"]}
    response = client.get("/apps/demo.htm")
    assert response["Content-Security-Policy"] == "frame-ancestors 'self' https://pbx.example.com"


def test_the_rest_of_the_site_keeps_its_frame_protection(client, app_dir):
    assert client.get("/accounts/login/")["X-Frame-Options"] == "DENY"

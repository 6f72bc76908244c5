"""The demo's notes service with a PBX connected (the FakePbx), as the README shows it."""

from __future__ import annotations

import asyncio
import http.cookiejar
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from appws.testing import FakePbx
from tests.e2e.daphne import ROOT, DaphneProcess, manage, migrate
from tests.e2e.databases import e2e_database

pytestmark = pytest.mark.e2e

PASSWORD = "notes-pbx-secret"
WAIT = 30  # s: a bound for crossing processes; nothing measures speed
DEMO_USERS = ROOT / "demo_site" / "pbx_users.json"


def landing_page(server: DaphneProcess) -> str:
    with urllib.request.urlopen(f"{server.http_url}/", timeout=10) as answer:
        return str(answer.read().decode())


async def test_the_landing_page_shows_the_connected_pbx(tmp_path: Path) -> None:
    env = {
        "DJANGO_SETTINGS_MODULE": "demo_site.settings",
        "APPWS_DEMO_DB": e2e_database(tmp_path),
        "NOTES_PBX_PASSWORD": PASSWORD,
    }
    migrate(env)
    manage(env, "demo_setup")
    manage(env, "appws_app", "set-password", "notes", "--password-env", "NOTES_PBX_PASSWORD")
    server = DaphneProcess(env=env).start()
    try:
        page = await asyncio.to_thread(landing_page, server)
        assert "No PBX is connected" in page
        async with FakePbx(
            f"{server.url}/apps/notes", password=PASSWORD, sip="notes", pbx="pbx-demo"
        ) as pbx:
            await pbx.wait_for(api="PbxAdminApi", mt="GetObjectResult", direction="sent")
            await pbx.wait_for(api="PbxApi", mt="GetNodeInfoResult", direction="sent")
            # The service writes its row after both replies: poll the page, with a deadline.
            deadline = time.monotonic() + 10
            page = await asyncio.to_thread(landing_page, server)
            while "Connected PBX" not in page and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
                page = await asyncio.to_thread(landing_page, server)
        assert "Connected PBX: <strong>notes@pbx-demo.example.com</strong>" in page
        assert "PbxApi" in page and "App object" in page
    finally:
        server.stop()


def logged_in_page(server: DaphneProcess, username: str, password: str) -> Callable[[], str]:
    """A function fetching the landing page as ``username``, logged in through the form."""
    opener = urllib.request.build_opener(
        urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
    )
    login = f"{server.http_url}/accounts/login/"
    with opener.open(login, timeout=10) as answer:
        form = answer.read().decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form)
    assert token is not None, form
    fields = {"csrfmiddlewaretoken": token[1], "username": username, "password": password}
    body = urllib.parse.urlencode({**fields, "next": "/"}).encode()
    with opener.open(urllib.request.Request(login, data=body), timeout=10) as answer:
        assert answer.geturl() == f"{server.http_url}/", "the login form refused the login"

    def fetch() -> str:
        with opener.open(f"{server.http_url}/", timeout=10) as answer:
            return str(answer.read().decode())

    return fetch


async def page_until(fetch: Callable[[], str], done: Callable[[str], bool]) -> str:
    """The page, fetched again until ``done`` holds (the PBX's news crosses processes)."""
    deadline = time.monotonic() + WAIT
    page = await asyncio.to_thread(fetch)
    while not done(page) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
        page = await asyncio.to_thread(fetch)
    return page


@asynccontextmanager
async def fake_pbx_command(env: dict[str, str], *args: str) -> AsyncIterator[list[str]]:
    """``manage.py appws_fakepbx`` as the README runs it; yields its lines so far."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "manage.py", "appws_fakepbx", *args,
        cwd=ROOT, env={**os.environ, **env, "PYTHONUNBUFFERED": "1"},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    assert process.stdout is not None
    lines: list[str] = []

    async def read() -> None:
        assert process.stdout is not None
        while line := await process.stdout.readline():
            lines.append(line.decode().rstrip("\n"))

    reader = asyncio.create_task(read())
    try:
        yield lines
    finally:
        process.send_signal(signal.SIGINT)
        await asyncio.wait_for(process.wait(), WAIT)
        await asyncio.wait_for(reader, WAIT)


def user_login(
    server: DaphneProcess, env: dict[str, str], sip: str
) -> subprocess.CompletedProcess[str]:
    """The README's ``appws call``: a user login to notes as the PBX issues it for ``sip``."""
    return subprocess.run(
        [
            sys.executable, "-m", "appws", "call", f"{server.url}/apps/notes", "--app", "notes",
            "--password-env", "NOTES_PBX_PASSWORD", "--sip", sip,
            "--info", '{"appobj": "notes"}', '{"mt": "ListNotes"}',
        ],
        cwd=ROOT, env={**os.environ, **env}, capture_output=True, text=True, timeout=WAIT,
    )  # fmt: skip


async def test_the_readme_pbx_users_demo(tmp_path: Path) -> None:
    """The README's commands: the PBX's users listed, mapped, let into Notes, live."""
    env = {
        "DJANGO_SETTINGS_MODULE": "demo_site.settings",
        "APPWS_DEMO_DB": e2e_database(tmp_path),
        "NOTES_PBX_PASSWORD": PASSWORD,
    }
    # The README's file, copied: the test edits it as a reader would.
    users = tmp_path / "pbx_users.json"
    users.write_text(DEMO_USERS.read_text())
    migrate(env)
    manage(env, "demo_setup")
    manage(env, "appws_app", "set-password", "notes", "--password-env", "NOTES_PBX_PASSWORD")
    server = DaphneProcess(env=env).start()
    try:
        alice = await asyncio.to_thread(logged_in_page, server, "alice", "alice-demo")
        url = f"{server.url}/apps/notes"
        async with fake_pbx_command(
            env, url, "--password-env", "NOTES_PBX_PASSWORD", "--users", str(users), "--watch"
        ) as lines:
            page = await page_until(alice, lambda page: "Grace Group" in page)
            for name, number in [
                ("Carol Caller", "201"),
                ("Dave Dialer", "202"),
                ("Erin Extension", "203"),
                ("Frank Forward", "204"),
                ("Grace Group", "205"),
            ]:
                assert f"<td>{name}</td><td>{number}</td>" in page
            assert "Reception" not in page  # hidden from the PBX's directory
            anonymous = await asyncio.to_thread(landing_page, server)
            assert "Carol Caller" not in anonymous and "to see the PBX's users" in anonymous

            # carol's Apps list notes: her Django user (made by the mapping) opens Notes.
            carol = await asyncio.to_thread(user_login, server, env, "carol")
            assert carol.returncode == 0 and "ListNotesResult" in carol.stdout, carol.stderr
            erin = await asyncio.to_thread(user_login, server, env, "erin")
            assert erin.returncode == 3
            assert "user 'erin' may not open App 'notes'" in erin.stderr
            state = manage(env, "shell", "-c", CHECK_USERS)
            assert json.loads(state.strip().splitlines()[-1]) == {
                "carol": [True, True],
                "dave": [True, True],
                "erin": [True, False],
                "frank": [True, True],
                "grace": [True, False],
                "reception": [True, False],
            }

            # The PBX's administrator edits the users: the changes arrive live.
            rows = [row for row in json.loads(users.read_text()) if row["h323"] != "frank"]
            for row in rows:
                if row["h323"] == "erin":
                    row["apps"] = "notes"
            rows.append({"h323": "heidi", "cn": "Heidi Hold", "e164": "206"})
            users.write_text(json.dumps(rows))
            page = await page_until(
                alice, lambda page: "Heidi Hold" in page and "Frank Forward" not in page
            )
            assert "<td>Heidi Hold</td><td>206</td>" in page and "Frank Forward" not in page
            assert "User 'frank' deleted" in lines and "User 'heidi' added" in lines
            erin = await asyncio.to_thread(user_login, server, env, "erin")
            assert erin.returncode == 0, erin.stderr
            frank = await asyncio.to_thread(user_login, server, env, "frank")
            assert frank.returncode == 3  # deleted on the PBX: deactivated, no access
        assert not any("pwd" in line for line in lines)
    finally:
        server.stop()


#: Prints {username: [is_active, may open notes]} of the users the mapping made.
CHECK_USERS = """
import json
from appws.models import PbxCreatedUser
print(json.dumps({c.user.username: [c.user.is_active, c.user.has_perm("appws.open_notes")]
                  for c in PbxCreatedUser.objects.select_related("user")}))
"""

"""README.md's "Add appws to your site", followed in a new Django project.

The project is made by ``django-admin startproject`` in a temporary directory, in a venv
of its own that has appws installed from a wheel built from this tree (``pip install``
of the wheel fetches Django, channels and daphne as a user's install would). The
section's code blocks are applied as they stand: a block headed ``# myproject/x.py``
replaces that file, one headed ``# myproject/x.py (appended)`` is added to its end; the
shell block's commands run in the project, and its ``daphne`` line is served. So the
test fails when the README's steps stop working, not only when appws does.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
import sys
import textwrap
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from appws import testing
from appws.client import Client
from tests.e2e.daphne import ROOT

pytestmark = pytest.mark.e2e

SECTION = "## Add appws to your site"
WAIT = 120  # s: bound for one install or manage.py step; nothing here measures speed
PASSWORD = "s3cret"  # the one the README's appws_app add line sets
COPY_IGNORED = shutil.ignore_patterns(
    ".git", ".venv", ".nox", "build", "dist", "*.egg-info", "__pycache__", "node_modules"
)


def readme_section() -> str:
    text = (ROOT / "README.md").read_text()
    start = text.index(SECTION)
    end = text.find("\n## ", start + len(SECTION))
    return text[start : end if end != -1 else len(text)]


def code_blocks(section: str) -> list[tuple[str, str]]:
    """(language, code) of every fenced block, list-item indentation removed."""
    blocks = re.findall(r"^( *)```(\w+)\n(.*?)^\1```$", section, re.MULTILINE | re.DOTALL)
    return [(lang, textwrap.dedent(code)) for _indent, lang, code in blocks]


def apply_files(project: Path, blocks: list[tuple[str, str]]) -> None:
    for lang, code in blocks:
        if lang != "python":
            continue
        head = re.match(r"# (myproject/\S+\.py)( \(appended\))?\n", code)
        assert head, f"a python block of the section names no file:\n{code}"
        target = project / head.group(1)
        if head.group(2):
            target.write_text(target.read_text() + "\n" + code)
        else:
            target.write_text(code)


class ProjectDaphne(testing.DaphneProcess):
    """daphne from the project's venv, not from the one running the tests."""

    def __init__(self, python: Path, application: str, *, env: dict[str, str], cwd: Path):
        super().__init__(application, env=env, cwd=cwd)
        self.env = env  # exactly the project's environment, no test settings leaking in
        self.python = python

    def command(self) -> list[str]:
        return [str(self.python), *super().command()[1:]]


def run(command: list[str] | str, *, cwd: Path, env: dict[str, str]) -> str:
    done = subprocess.run(
        command,
        cwd=cwd,
        env=env,
        shell=isinstance(command, str),
        capture_output=True,
        text=True,
        timeout=WAIT,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, f"{command!r} failed:\n{output}"
    return output


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    base = tmp_path_factory.mktemp("new-project")
    source, dist, venv, site = base / "src", base / "dist", base / "venv", base / "site"
    # The wheel is built from a copy: the build leaves files where it runs.
    shutil.copytree(ROOT, source, ignore=COPY_IGNORED)
    env = {k: v for k, v in os.environ.items() if k not in ("DJANGO_SETTINGS_MODULE", "PYTHONPATH")}
    run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(dist), str(source)],
        cwd=base,
        env=env,
    )
    wheel = next(dist.glob("appws-*.whl"))
    run([sys.executable, "-m", "venv", str(venv)], cwd=base, env=env)
    env = {**env, "VIRTUAL_ENV": str(venv), "PATH": f"{venv / 'bin'}{os.pathsep}{env['PATH']}"}
    run(["pip", "install", "-q", str(wheel)], cwd=base, env=env)
    site.mkdir()
    run(["django-admin", "startproject", "myproject", "."], cwd=site, env=env)

    apply_files(site, code_blocks(readme_section()))
    (site / "apps").mkdir()
    (site / "apps" / "hello.htm").write_text("<!doctype html><title>hello</title>\n")

    outputs, application = [], None
    for lang, code in code_blocks(readme_section()):
        if lang != "sh":
            continue
        for line in code.splitlines():
            command = line.split(" #")[0].strip()
            if command.startswith("daphne "):
                application = command.split()[-1]
            elif command and "createsuperuser" not in command:  # asks questions: left out
                outputs.append(run(command, cwd=site, env=env))
    assert application, "the section's shell block serves nothing with daphne"
    with ProjectDaphne(venv / "bin" / "python", application, env=env, cwd=site) as server:
        yield {
            "server": server,
            "site": site,
            "python": venv / "bin" / "python",
            "env": env,
            "outputs": outputs,
        }


def get(url: str) -> tuple[int, str, bytes]:
    with urllib.request.urlopen(url, timeout=WAIT) as response:
        return response.status, response.headers["Content-Type"], response.read()


def test_appws_comes_from_the_wheel_not_from_this_tree(project):
    where = run(
        [str(project["python"]), "-c", "import appws; print(appws.__file__)"],
        cwd=project["site"],
        env=project["env"],
    )
    assert str(project["python"].parents[1]) in where and str(ROOT) not in where


def test_check_and_migrate_pass(project):
    printed = "".join(project["outputs"])
    assert "System check identified no issues" in printed
    assert "Applying appws." in printed


def test_admin_is_styled_under_daphne(project):
    server = project["server"]
    status, content_type, body = get(server.http_url + "/static/admin/css/base.css")
    assert status == 200 and content_type.startswith("text/css") and body
    status, _, page = get(server.http_url + "/admin/login/")
    assert status == 200 and b"/static/admin/css/base.css" in page


def test_app_page_is_served_from_app_dirs(project):
    status, content_type, body = get(project["server"].http_url + "/apps/hello.htm")
    assert status == 200 and content_type.startswith("text/html") and b"hello" in body


def test_client_logs_in_and_gets_the_services_reply(project):
    async def hello() -> dict[str, Any]:
        url = project["server"].url + "/apps/hello"
        async with Client(url, "hello", password=PASSWORD) as client:
            return await client.request({"mt": "Hello", "name": "new project"})

    reply = asyncio.run(hello())
    assert reply["mt"] == "HelloResult" and reply["text"] == "hello, new project"

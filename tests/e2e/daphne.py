"""appws's own end-to-end set-up on top of ``appws.testing``: the demo and the test services
under daphne, run from the repository root, and ``manage.py`` as a user runs it."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from appws import testing

ROOT = Path(__file__).resolve().parents[2]
DEMO = "demo_site.asgi:application"


class DaphneProcess(testing.DaphneProcess):
    """``appws.testing.DaphneProcess`` run from the repository root, the demo by default."""

    def __init__(
        self,
        application: str = DEMO,
        *,
        env: Mapping[str, str] | None = None,
        args: Sequence[str] = (),
        port: int = 0,
    ) -> None:
        super().__init__(application, env=env, args=args, port=port, cwd=ROOT)


class UvicornProcess(testing.UvicornProcess):
    """``appws.testing.UvicornProcess`` run from the repository root."""

    def __init__(
        self, application: str = DEMO, *, env: Mapping[str, str] | None = None, port: int = 0
    ) -> None:
        super().__init__(application, env=env, port=port, cwd=ROOT)


def manage(env: Mapping[str, str], *args: str) -> str:
    """Run ``manage.py`` with ``env`` added, as a user would; return what it printed."""
    done = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**os.environ, **env},
        check=True,
        capture_output=True,
        text=True,
    )
    return done.stdout + done.stderr


def migrate(env: Mapping[str, str]) -> None:
    """Run ``manage.py migrate`` with ``env`` added, as a user would before serving."""
    manage(env, "migrate", "--verbosity", "0")


@contextlib.contextmanager
def provisioned_demo(database: str) -> Iterator[DaphneProcess]:
    """The demo site under daphne, migrated and provisioned (``demo_setup``: its users and
    notes Apps), on ``database`` (from :func:`~tests.e2e.databases.e2e_database`); stopped
    on the way out."""
    env = {"DJANGO_SETTINGS_MODULE": "demo_site.settings", "APPWS_DEMO_DB": database}
    migrate(env)
    manage(env, "demo_setup")
    server = DaphneProcess(env=env).start()
    try:
        yield server
    finally:
        server.stop()


@contextlib.contextmanager
def services_server(
    database: str, extra: Mapping[str, str] | None = None
) -> Iterator[DaphneProcess]:
    """The test services (``tests.e2e.asgi``, DEBUG off) under daphne, on ``database`` (from
    :func:`~tests.e2e.databases.e2e_database`); ``extra`` is added to its environment
    (``tests/e2e/settings.py`` reads it)."""
    env = {
        "DJANGO_SETTINGS_MODULE": "tests.e2e.settings",
        "APPWS_DEMO_DB": database,
        "DJANGO_DEBUG": "0",
        **(extra or {}),
    }
    migrate(env)
    server = DaphneProcess("tests.e2e.asgi:application", env=env).start()
    try:
        yield server
    finally:
        server.stop()


async def logged_in(url: str, app: str, sip: str = "", **options: Any) -> Any:
    """A websockets connection to ``url``, logged in to a test service's ``app``.

    The test services' password of each App is its name. ``options`` go to
    ``websockets.connect``.
    """
    import websockets

    from appws import protocol

    ws = await websockets.connect(url, **options)
    await ws.send(json.dumps({"mt": "AppChallenge"}))
    challenge = json.loads(await ws.recv())["challenge"]
    login = {"mt": "AppLogin", "app": app, "sip": sip}
    login["digest"] = protocol.login_digest(login, challenge, app)
    await ws.send(json.dumps(login))
    assert json.loads(await ws.recv())["ok"] is True
    return ws

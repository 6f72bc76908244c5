"""Run a real daphne process on a loopback port the kernel picks."""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
_LISTENING = re.compile(r"Listening on TCP address 127\.0\.0\.1:(\d+)")


class DaphneProcess:
    """``python -m daphne`` serving ``application``; ``.port`` once it listens.

    Binding port 0 lets the kernel pick a free port with no race; the port is
    read from daphne's own "Listening on" log line.
    """

    def __init__(
        self,
        application: str = "demo_site.asgi:application",
        *,
        env: Mapping[str, str] | None = None,
        args: Sequence[str] = (),
        port: int = 0,
    ) -> None:
        self.application = application
        self.env = {**os.environ, **(env or {})}
        self.args = list(args)
        self.port = port
        self.output: list[str] = []
        self._listening = threading.Event()
        self._process: subprocess.Popen[str] | None = None

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def pid(self) -> int:
        """Process id of the running daphne (for /proc/<pid>/...)."""
        if self._process is None:
            raise RuntimeError("daphne is not running")
        return self._process.pid

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30) -> DaphneProcess:
        command = [
            sys.executable,
            "-m",
            "daphne",
            "-e",
            # Port 0 the first time; the same port again on a restart.
            f"tcp:{self.port}:interface=127.0.0.1",
            *self.args,
            self.application,
        ]
        self._listening.clear()
        self._process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        threading.Thread(target=self._drain, args=(self._process,), daemon=True).start()
        if not self._listening.wait(timeout):
            self.stop()
            raise RuntimeError("daphne did not start listening:\n" + "".join(self.output))
        return self

    def _drain(self, process: subprocess.Popen[str]) -> None:
        assert process.stdout is not None
        for line in process.stdout:
            self.output.append(line)
            match = _LISTENING.search(line)
            if match:
                self.port = int(match.group(1))
                self._listening.set()

    def kill(self) -> None:
        """End the process with SIGKILL, as a crash would: no cleanup runs."""
        if self._process is not None:
            self._process.kill()
            self._process.wait(10)
            self._process = None

    def stop(self) -> None:
        if self._process is not None:
            terminate(self._process)
            self._process = None


def terminate(process: subprocess.Popen[str]) -> None:
    """Stop ``process`` with SIGTERM, and SIGKILL if it is still there after 10 s."""
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(10)


def free_port() -> int:
    """A loopback port free right now (for servers that cannot bind port 0)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for_port(port: int, process: subprocess.Popen[str], timeout: float = 30) -> None:
    """Return once ``port`` accepts connections; fail if ``process`` exits first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with code {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)  # readiness polling of another process, not test synchronisation
    raise RuntimeError(f"nothing listens on port {port} after {timeout} s")


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
def provisioned_demo(database: Path) -> Iterator[DaphneProcess]:
    """The demo site under daphne, migrated and provisioned (``demo_setup``: its users and
    notes Apps), on the SQLite file ``database``; stopped on the way out."""
    env = {"DJANGO_SETTINGS_MODULE": "demo_site.settings", "APPWS_DEMO_DB": str(database)}
    migrate(env)
    manage(env, "demo_setup")
    server = DaphneProcess(env=env).start()
    try:
        yield server
    finally:
        server.stop()


@contextlib.contextmanager
def services_server(database: Path) -> Iterator[DaphneProcess]:
    """The test services (``tests.e2e.asgi``, DEBUG off) under daphne, on ``database``."""
    env = {
        "DJANGO_SETTINGS_MODULE": "tests.e2e.settings",
        "APPWS_DEMO_DB": str(database),
        "DJANGO_DEBUG": "0",
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

"""A real daphne process on a loopback port, for end-to-end tests of a project's services."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path

from appws.testing.processes import terminate


class DaphneProcess:
    """``python -m daphne`` serving ``application`` on 127.0.0.1, in a process of its own.

    ::

        with DaphneProcess("myproject.asgi:application", settings="myproject.settings") as server:
            ...  # connect to server.url + "/apps/notes"

    ``application`` is the ASGI application's import path; ``settings`` sets
    ``DJANGO_SETTINGS_MODULE`` for the process; ``env`` is added to this process's
    environment; ``args`` are more daphne options (e.g. ``--websocket-max-message-size``);
    ``cwd`` is where the process runs (by default the current directory), which must
    be able to import ``application``.

    With ``port`` 0 (the default) the kernel picks a free port as daphne binds it, so
    two servers never race for one; ``port`` holds it once :meth:`start` returns, and a
    restart after :meth:`stop` or :meth:`kill` binds the same port again. ``output``
    collects what the process printed (stdout and stderr), for failure messages.
    """

    #: The server's name in error messages.
    name = "daphne"
    #: The server's own log line once it listens; with port 0 the real port is read there.
    listening = re.compile(r"Listening on TCP address 127\.0\.0\.1:(\d+)")

    def __init__(
        self,
        application: str,
        *,
        settings: str | None = None,
        env: Mapping[str, str] | None = None,
        args: Sequence[str] = (),
        port: int = 0,
        cwd: str | Path | None = None,
    ) -> None:
        self.application = application
        self.env = {**os.environ, **(env or {})}
        if settings is not None:
            self.env["DJANGO_SETTINGS_MODULE"] = settings
        self.args = list(args)
        self.port = port
        self.cwd = cwd
        self.output: list[str] = []
        self._process: subprocess.Popen[str] | None = None

    @property
    def url(self) -> str:
        """``ws://127.0.0.1:<port>``: add the service's path."""
        return f"ws://127.0.0.1:{self.port}"

    @property
    def http_url(self) -> str:
        """``http://127.0.0.1:<port>``, for the site's pages."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        """Whether the process has been started and has not exited."""
        return self._process is not None and self._process.poll() is None

    @property
    def pid(self) -> int:
        """The process id (e.g. to read ``/proc/<pid>/status``)."""
        if self._process is None:
            raise RuntimeError(f"{self.name} is not running: call start() first")
        return self._process.pid

    def start(self, timeout: float = 30) -> DaphneProcess:
        """Start daphne and return once it listens.

        Raises ``RuntimeError`` with daphne's output if it exits first (a settings or
        import error, say) or does not listen within ``timeout`` seconds.
        """
        if self.running:
            raise RuntimeError(f"{self.name} is already running on port {self.port}")
        process = subprocess.Popen(
            self.command(),
            cwd=self.cwd,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self._process = process
        # Per start: the reader of a process stopped earlier must not signal this one.
        listening, settled = threading.Event(), threading.Event()
        reader = threading.Thread(
            target=self._read, args=(process, listening, settled), daemon=True
        )
        reader.start()
        if not settled.wait(timeout):
            self.stop()
            why = f"is not listening after {timeout} s"
        elif listening.is_set():
            return self
        else:
            # Its output ended: the process is exiting, and perhaps not reaped yet.
            code = process.wait(10)
            self._process = None
            why = f"exited with code {code} before listening"
        raise RuntimeError(f"{self.name} {why}:\n" + "".join(self.output))

    def command(self) -> list[str]:
        """The command line that starts the server on ``port``."""
        return [
            sys.executable,
            "-m",
            "daphne",
            "-e",
            f"tcp:{self.port}:interface=127.0.0.1",
            *self.args,
            self.application,
        ]

    def _read(
        self, process: subprocess.Popen[str], listening: threading.Event, settled: threading.Event
    ) -> None:
        assert process.stdout is not None
        for line in process.stdout:
            self.output.append(line)
            match = self.listening.search(line)
            if match and not listening.is_set():
                self.port = int(match.group(1))
                listening.set()
                settled.set()
        # The output ended: the process is gone, whether it listened or not.
        settled.set()

    def stop(self, signum: int = signal.SIGTERM) -> int | None:
        """End the process with ``signum`` (SIGTERM; SIGKILL after 10 s), as a service
        manager stops it; return its exit code, or None if it was not running."""
        if self._process is None:
            return None
        code = terminate(self._process, signum=signum)
        self._process = None
        return code

    def kill(self) -> None:
        """End the process with SIGKILL, as a crash would: no clean-up of its own runs."""
        if self._process is not None:
            self._process.kill()
            self._process.wait(10)
            self._process = None

    def __enter__(self) -> DaphneProcess:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

"""Server processes of a bench run, all on loopback: daphne, uvicorn, raw websockets, Redis."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Mapping

from appws.testing import DaphneProcess, RedisServer, free_port, terminate, wait_for_port
from bench.constants import ROOT
from bench.database import BenchDatabase

APPWS_PATH = "/apps/bench"
USERS_PATH = "/apps/benchusers"
BARE_PATH = "/bare"
BARE_NOCLEANUP_PATH = "/bare-nocleanup"


def bench_env(database: BenchDatabase, *, track: bool = False, **extra: str) -> dict[str, str]:
    """Environment of a server process running ``bench.asgi``."""
    return {
        "DJANGO_SETTINGS_MODULE": "bench.settings",
        **database.env(),
        "BENCH_TRACK": "1" if track else "0",
        **extra,
    }


def prepare_database(database: BenchDatabase) -> None:
    """Create the tables the tracking configuration writes to."""
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--verbosity", "0"],
        cwd=ROOT,
        env={**os.environ, **bench_env(database, track=True)},
        check=True,
    )


class Server:
    """A server process; ``url(path)`` for clients, ``pid`` for RSS and CPU readings."""

    kind = "server"

    def __init__(self) -> None:
        self.port = 0

    @property
    def pid(self) -> int:
        raise NotImplementedError

    def url(self, path: str = "/") -> str:
        return f"ws://127.0.0.1:{self.port}{path}"

    def start(self) -> Server:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Server:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class Daphne(Server):
    kind = "daphne"

    def __init__(self, env: Mapping[str, str]) -> None:
        super().__init__()
        self.process = DaphneProcess("bench.asgi:application", env=env, cwd=ROOT)

    @property
    def pid(self) -> int:
        return self.process.pid

    def start(self) -> Daphne:
        self.process.start()
        self.port = self.process.port
        return self

    def stop(self) -> None:
        self.process.stop()


class _Subprocess(Server):
    """A server started from a command line that takes a port it cannot pick itself."""

    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        super().__init__()
        self.env = {**os.environ, **(env or {})}
        self._process: subprocess.Popen[str] | None = None
        self.output: list[str] = []

    def command(self) -> list[str]:
        raise NotImplementedError

    @property
    def pid(self) -> int:
        assert self._process is not None
        return self._process.pid

    def start(self) -> _Subprocess:
        self.port = free_port()
        self._process = subprocess.Popen(
            self.command(),
            cwd=ROOT,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        threading.Thread(target=self._drain, args=(self._process,), daemon=True).start()
        try:
            wait_for_port(self.port, self._process)
        except RuntimeError as error:
            self.stop()
            message = f"{self.kind} did not start: {error}\n{''.join(self.output)}"
            raise RuntimeError(message) from error
        return self

    def _drain(self, process: subprocess.Popen[str]) -> None:
        assert process.stdout is not None
        for line in process.stdout:
            self.output.append(line)

    def stop(self) -> None:
        if self._process is not None:
            terminate(self._process)
            self._process = None


class Uvicorn(_Subprocess):
    kind = "uvicorn"

    def command(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "uvicorn",
            "bench.asgi:application",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--ws",
            "websockets-sansio",
            "--ws-per-message-deflate",
            "false",
            "--lifespan",
            "off",
            "--no-access-log",
            "--log-level",
            "warning",
        ]


class RawWebsockets(_Subprocess):
    kind = "websockets"

    def command(self) -> list[str]:
        return [sys.executable, "-m", "bench.raw_server", str(self.port)]


def redis_server() -> RedisServer | None:
    """A throwaway redis-server, or None when the machine has none."""
    executable = shutil.which("redis-server")
    return RedisServer(executable) if executable else None

"""A throwaway redis-server on a free loopback port, for tests of several server processes."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time

from appws.testing.processes import free_port, terminate


def find_redis_server() -> str:
    """The path of ``redis-server``; ``FileNotFoundError`` saying what to install if none."""
    found = shutil.which("redis-server")
    if found is None:
        raise FileNotFoundError(
            "redis-server is not installed or not on PATH: install the redis-server package "
            "(apt-get install redis-server, brew install redis), or pass its path as "
            "RedisServer(executable=...)"
        )
    return found


class RedisServer:
    """A ``redis-server`` process on 127.0.0.1, saving nothing to disk.

    ::

        with RedisServer() as redis, DaphneProcess(
            "myproject.asgi:application", env={"REDIS_URL": redis.url}
        ) as server:
            ...  # the project's settings read REDIS_URL into CHANNEL_LAYERS

    ``executable`` is the server's path (by default ``redis-server`` on ``PATH``;
    ``FileNotFoundError`` names the package to install when there is none). ``port``
    is picked free when the object is made and stays the same across restarts, so a
    test can stop the server and start it again where its clients expect it.
    """

    def __init__(self, executable: str | None = None) -> None:
        self.executable = executable if executable is not None else find_redis_server()
        self.port = free_port()
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """``redis://127.0.0.1:<port>/0``, for ``CHANNEL_LAYERS`` ``hosts``."""
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def running(self) -> bool:
        """Whether the process has been started and has not exited."""
        return self._process is not None and self._process.poll() is None

    def start(self, timeout: float = 20) -> RedisServer:
        """Start redis-server and return once it answers ``PING``.

        Raises ``RuntimeError`` if it exits first (the port was taken meanwhile, say)
        or does not answer within ``timeout`` seconds.
        """
        process = subprocess.Popen(
            [
                self.executable,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self._process = process
        deadline = time.monotonic() + timeout
        while not self.ping():
            if process.poll() is not None:
                self._process = None
                raise RuntimeError(
                    f"redis-server exited with code {process.returncode} "
                    f"before answering on port {self.port}"
                )
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(
                    f"redis-server did not answer on port {self.port} after {timeout} s"
                )
            # Polling another process's readiness: there is nothing to wait on instead.
            time.sleep(0.05)
        return self

    def ping(self) -> bool:
        """Whether a server answers ``PING`` on the port right now."""
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as conn:
                conn.sendall(b"PING\r\n")
                return conn.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        """End the process with SIGTERM (SIGKILL after 10 s); nothing if it is not running."""
        if self._process is not None:
            terminate(self._process)
            self._process = None

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

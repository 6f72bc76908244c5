"""Server processes for end-to-end tests: a free loopback port, readiness, a clean stop."""

from __future__ import annotations

import signal
import socket
import subprocess
import time
from typing import Any


def free_port() -> int:
    """A loopback port that is free right now, for servers that cannot bind port 0.

    Another process may take it before the server binds it; servers that can
    bind port 0 and report their port (as daphne does) have no such race.
    """
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for_port(port: int, process: subprocess.Popen[Any], timeout: float = 30) -> None:
    """Return once ``127.0.0.1:port`` accepts connections.

    Raises ``RuntimeError`` as soon as ``process`` exits, or after ``timeout`` seconds.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with code {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            # Polling another process's readiness: there is nothing to wait on instead.
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout} s")


def terminate(
    process: subprocess.Popen[Any], timeout: float = 10, signum: int = signal.SIGTERM
) -> int:
    """Stop ``process`` with ``signum`` (SIGTERM), and SIGKILL if it is still there after
    ``timeout`` s; return its exit code (negative: the signal that ended it)."""
    process.send_signal(signum)
    try:
        return process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        return process.wait(timeout)

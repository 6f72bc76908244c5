"""A throwaway PostgreSQL server on a free loopback port, for tests on a real database."""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from appws.testing.processes import free_port

__all__ = ["PostgresServer", "find_postgres_bin"]


def find_postgres_bin() -> Path:
    """The directory of ``initdb`` and ``pg_ctl``; ``FileNotFoundError`` saying what to install.

    Looks on ``PATH``, then under Debian's ``/usr/lib/postgresql/*/bin`` (newest first).
    """
    found = shutil.which("initdb")
    if found is not None:
        # Resolved: Debian's links in /usr/bin or /usr/local/bin point into the real directory.
        return Path(found).resolve().parent
    versions = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda path: int(Path(path).parts[-3]) if Path(path).parts[-3].isdigit() else 0,
    )
    if versions:
        return Path(versions[-1]).parent
    raise FileNotFoundError(
        "PostgreSQL's server tools (initdb, pg_ctl) are not installed: install the "
        "postgresql package (apt-get install postgresql, brew install postgresql), or pass "
        "their directory as PostgresServer(bin_dir=...)"
    )


class PostgresServer:
    """A PostgreSQL cluster made in a temporary directory, listening on 127.0.0.1 only.

    ::

        with PostgresServer() as pg:
            DATABASES = {"default": pg.database_settings()}

    Trust authentication, and no fsync unless ``durable`` (a benchmark that should pay
    for commits as a production server does): for tests only. Run as root, its tools run as the
    ``postgres`` user (PostgreSQL refuses root) through ``runuser``. The directory is
    removed on :meth:`stop`.
    """

    def __init__(
        self, bin_dir: str | os.PathLike[str] | None = None, *, durable: bool = False
    ) -> None:
        self.bin_dir = Path(bin_dir) if bin_dir is not None else find_postgres_bin()
        self.durable = durable
        self.port = free_port()
        self.user = "postgres"
        self._dir: Path | None = None

    @property
    def running(self) -> bool:
        """Whether the cluster has been started and not stopped."""
        return self._dir is not None

    def database_settings(self, name: str = "postgres") -> dict[str, Any]:
        """An entry of Django's ``DATABASES`` for database ``name`` of this server."""
        return {
            "ENGINE": "django.db.backends.postgresql",
            "HOST": "127.0.0.1",
            "PORT": str(self.port),
            "USER": self.user,
            "NAME": name,
        }

    def start(self, timeout: float = 30) -> PostgresServer:
        """Make the cluster and start the server; return once it accepts connections.

        Raises ``RuntimeError`` (with the server's log) if it fails to start.
        """
        directory = Path(tempfile.mkdtemp(prefix="appws-pg-"))
        self._dir = directory
        if os.geteuid() == 0:
            shutil.chown(directory, user="postgres")
        log = directory / "log"
        try:
            self._run("initdb", "-D", str(directory / "data"), "-A", "trust", "-U", self.user)
            options = f"-p {self.port} -k {directory} -c listen_addresses=127.0.0.1"
            if not self.durable:
                options += " -c fsync=off"  # a test's data need not survive a crash
            # pg_ctl waits (-w) until the server accepts connections.
            self._run(
                "pg_ctl", "-D", str(directory / "data"), "-l", str(log), "-o", options,
                "-w", "-t", str(int(timeout)), "start",
            )  # fmt: skip
        except subprocess.CalledProcessError as error:
            text = log.read_text(errors="replace") if log.exists() else ""
            self.stop()
            raise RuntimeError(
                f"PostgreSQL did not start on port {self.port}: {error}\n{text}"
            ) from None
        return self

    def stop(self) -> None:
        """Stop the server (fast shutdown) and remove its directory; nothing if not running."""
        if self._dir is None:
            return
        # Not running any more (or never made): the directory goes all the same.
        with contextlib.suppress(subprocess.CalledProcessError):
            self._run("pg_ctl", "-D", str(self._dir / "data"), "stop", "-m", "fast")
        self._remove()

    def _run(self, tool: str, *args: str) -> None:
        command = [str(self.bin_dir / tool), *args]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        # pg_ctl's server outlives it: it must not hold pipes of ours open (its log is the file).
        quiet = subprocess.DEVNULL if tool == "pg_ctl" else subprocess.PIPE
        subprocess.run(command, check=True, stdout=quiet, stderr=quiet, timeout=120)

    def _remove(self) -> None:
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    def __enter__(self) -> PostgresServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

"""A real uvicorn process on a loopback port: the other ASGI server appws is tested on."""

from __future__ import annotations

import re
import sys

from appws.testing.daphne import DaphneProcess


class UvicornProcess(DaphneProcess):
    """``python -m uvicorn`` serving ``application`` on 127.0.0.1; used as
    :class:`~appws.testing.DaphneProcess` is (the same arguments; ``args`` are uvicorn
    options, e.g. ``--ws wsproto``)."""

    name = "uvicorn"
    listening = re.compile(r"Uvicorn running on http://127\.0\.0\.1:(\d+)")

    def command(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "uvicorn",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            *self.args,
            self.application,
        ]

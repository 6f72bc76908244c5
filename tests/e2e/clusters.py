"""Two daphne processes of the e2e site sharing a throwaway redis-server and one database.

What the tests of work crossing processes (a PBX held by one, reached from the
other) stand on, and how they call the site's test views over HTTP.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from appws.testing import RedisServer
from tests.conftest import require_tool
from tests.e2e.daphne import DaphneProcess, migrate
from tests.e2e.databases import e2e_database

ASGI = "tests.e2e.asgi:application"


@dataclass(frozen=True)
class Cluster:
    """The processes' environment and the two of them, ``first`` started first."""

    env: dict[str, str]
    first: DaphneProcess
    second: DaphneProcess


@contextmanager
def two_daphnes(directory: Path, **env: str) -> Iterator[Cluster]:
    """Start Redis and two daphnes on a database in ``directory``; stop them all after.

    ``env`` adds to (or overrides) the processes' environment, e.g. an App's password.
    """
    redis_server = RedisServer(require_tool("redis-server", "redis-server")).start()
    try:
        settings = {
            "DJANGO_SETTINGS_MODULE": "tests.e2e.settings",
            "APPWS_DEMO_DB": e2e_database(directory),
            "APPWS_REDIS_URL": redis_server.url,
            "APPWS_REDIS_PREFIX": f"t{uuid.uuid4().hex[:8]}",
            **env,
        }
        migrate(settings)
        first = DaphneProcess(ASGI, env=settings).start()
        try:
            second = DaphneProcess(ASGI, env=settings).start()
            try:
                yield Cluster(settings, first, second)
            finally:
                second.stop()
        finally:
            first.stop()
    finally:
        redis_server.stop()


def post_json(
    server: DaphneProcess, path: str, body: dict[str, Any], timeout: float = 30
) -> tuple[int, dict[str, Any]]:
    """POST ``body`` as JSON to ``path`` of ``server``; its status and JSON answer."""
    data = json.dumps(body).encode()
    request = urllib.request.Request(f"{server.http_url}{path}", data=data, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            return answer.status, json.load(answer)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)

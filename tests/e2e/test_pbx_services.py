"""One App Service logs in to another through its PBX (GetServiceLogin), across processes.

Process A holds the FakePbx's connection to App ``svcuser``; a view on process B asks
``appws.pbx.connect_service`` for service ``svcother`` (served by B), whose password
only the PBX knows: the login is issued by the PBX, through A, over redis.
"""

from __future__ import annotations

import asyncio
import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from appws.testing import FakePbx
from tests.e2e.clusters import post_json, two_daphnes
from tests.e2e.daphne import DaphneProcess

pytestmark = pytest.mark.e2e

OTHER = "svcother@example.com"
WAIT = 30.0  # s: a bound for crossing processes; nothing measures speed


@pytest.fixture(scope="module")
def cluster(tmp_path_factory) -> Iterator[tuple[DaphneProcess, DaphneProcess]]:
    with two_daphnes(tmp_path_factory.mktemp("services")) as c:
        yield c.first, c.second


def post(server: DaphneProcess, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    return post_json(server, path, body, WAIT)


def listed(server: DaphneProcess) -> list[dict[str, Any]]:
    with urllib.request.urlopen(f"{server.http_url}/test/services/svcuser", timeout=WAIT) as r:
        services: list[dict[str, Any]] = json.load(r)["services"]
        return services


async def wait_listed(server: DaphneProcess, names: list[str]) -> list[dict[str, Any]]:
    """Poll the services B reads from the database until they are ``names``."""
    start = time.monotonic()
    while True:
        found = await asyncio.to_thread(listed, server)
        if [service["name"] for service in found] == names:
            return found
        assert time.monotonic() - start < WAIT, f"services listed: {found}"
        await asyncio.sleep(0.1)  # polling another process's database


def call(server: DaphneProcess, service: str, message: dict[str, Any]) -> tuple[int, dict]:
    return post(
        server, "/test/service-call", {"app": "svcuser", "service": service, "message": message}
    )


async def test_a_service_logs_in_to_another_through_the_pbx_and_calls_it(cluster) -> None:
    first, second = cluster
    other = {"name": OTHER, "title": "Other", "url": f"{second.url}/apps/svcother"}
    pbx = FakePbx(
        f"{first.url}/apps/svcuser",
        password="svcuser",
        sip="svcuser-obj",
        services=[other],
        service_passwords={OTHER: "svcother"},
        timeout=WAIT,
    )
    async with pbx:
        [found] = await wait_listed(second, [OTHER])
        assert found["url"] == other["url"] and found["pbx"] == "svcuser-obj@pbx-main.example.com"
        status, body = await asyncio.to_thread(call, second, OTHER, {"mt": "Whoami"})
        assert status == 200, body
        reply = body["reply"]
        # Logged in to svcother as the PBX's App object, a user of it: not as a PBX.
        assert (reply["mt"], reply["app"], reply["sip"]) == (
            "WhoamiResult",
            "svcother",
            "svcuser-obj",
        )
        assert reply["kind"] != "pbx"
        [asked] = pbx.received(api="Services", mt="GetServiceLogin")
        assert asked["app"] == OTHER and asked["challenge"].isdigit()
        # A second call is a second connection: a fresh challenge, a fresh login.
        status, body = await asyncio.to_thread(call, second, OTHER, {"mt": "Echo", "n": 1})
        assert status == 200 and body["reply"]["n"] == 1, body
        challenges = [m["challenge"] for m in pbx.received(mt="GetServiceLogin")]
        assert len(challenges) == 2 and challenges[0] != challenges[1]

        # The PBX takes the service away: it is no longer listed, and no login is issued.
        await pbx.set_services([])
        await wait_listed(second, [])
        status, body = await asyncio.to_thread(call, second, OTHER, {"mt": "Echo"})
        assert status == 502 and body["error"] == "UnknownService", body


async def test_a_login_the_pbx_refuses_is_login_refused(cluster) -> None:
    first, second = cluster
    other = {"name": OTHER, "title": "Other", "url": f"{second.url}/apps/svcother"}
    # Listed, but the PBX holds no password for it: GetServiceLogin is refused.
    pbx = FakePbx(f"{first.url}/apps/svcuser", password="svcuser", services=[other], timeout=WAIT)
    async with pbx:
        await wait_listed(second, [OTHER])
        status, body = await asyncio.to_thread(call, second, OTHER, {"mt": "Echo"})
        assert status == 502 and body["error"] == "LoginRefused", body
        assert "refused a login to service 'svcother@example.com'" in body["text"]
        [refused] = pbx.sent(mt="GetServiceLoginResult")
        assert refused["error"] == "unknown-service" and "digest" not in refused

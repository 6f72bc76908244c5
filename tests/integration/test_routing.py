"""``service_urls()``: a WebSocket path no App Service serves is refused, not a 500."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.urls import path

from appws.catalogue import walk
from appws.server.routing import service_urls
from appws.server.unrouted import SHOWN_PATHS, UnknownPathRefuser
from tests.services import EchoService, NotesService, application


def refusals(caplog: Any) -> list[str]:
    return [r.getMessage() for r in caplog.records if "refused: no App Service" in r.getMessage()]


async def handshake(app: Any, url: str) -> bool:
    comm = WebsocketCommunicator(app, url)
    connected, _ = await comm.connect()
    await comm.disconnect()
    return connected


async def test_an_unknown_app_path_is_refused_with_one_warning(caplog: Any) -> None:
    caplog.set_level(logging.WARNING, logger="appws")
    assert await handshake(application, "/apps/nosuch") is False
    [line] = refusals(caplog)
    assert "'/apps/nosuch'" in line
    assert "/apps/notes" in line and "/apps/echo" in line


async def test_a_known_path_still_connects(caplog: Any) -> None:
    assert await handshake(application, "/apps/echo") is True
    assert refusals(caplog) == []


async def test_a_client_value_in_the_path_is_quoted(caplog: Any) -> None:
    caplog.set_level(logging.WARNING, logger="appws")
    assert await handshake(application, "/apps/x%0Aforged") is False
    [line] = refusals(caplog)
    assert "\n" not in line


async def test_the_known_paths_carry_the_outer_routers_prefix(caplog: Any) -> None:
    caplog.set_level(logging.WARNING, logger="appws")
    nested = URLRouter([path("ws/", URLRouter(service_urls(NotesService)))])
    assert await handshake(nested, "/ws/apps/nosuch") is False
    [line] = refusals(caplog)
    assert "'/ws/apps/nosuch'" in line and "/ws/apps/notes" in line


def test_many_known_paths_are_shortened() -> None:
    names = [f"app{n}" for n in range(SHOWN_PATHS + 5)]
    known = UnknownPathRefuser(names).known_paths({"path": "/apps/x", "path_remaining": "x"})
    assert known.count("/apps/app") == SHOWN_PATHS
    assert known.endswith("and 5 more")


async def test_paths_outside_the_prefix_go_on_to_later_routes() -> None:
    later = URLRouter([*service_urls(EchoService), path("chat/", EchoService.as_asgi())])
    assert await handshake(later, "/chat/") is True


def test_the_refusing_route_is_no_service_in_the_catalogue() -> None:
    assert [entry.paths for entry in walk(URLRouter(service_urls(EchoService)))] == [["apps/echo"]]


@pytest.mark.parametrize("url", ["/apps/", "/apps/echo/extra"])
async def test_near_misses_are_refused_too(url: str) -> None:
    assert await handshake(application, url) is False

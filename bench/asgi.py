"""The ASGI application of bench servers (daphne and uvicorn).

- ``/apps/bench``: appws (:class:`bench.services.BenchService`), App ``bench``
- ``/apps/benchusers``: appws replicating its PBX's users
  (:class:`bench.services.BenchUsersService`), App ``benchusers``
- ``/bare``: a bare Channels ``AsyncJsonWebsocketConsumer`` doing the same JSON work
- ``/bare-nocleanup``: the same, without Channels' per-event database clean-up
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.urls import path  # noqa: E402

from appws.server.routing import service_urls  # noqa: E402
from bench.services import (  # noqa: E402
    BareEcho,
    BareEchoNoCleanup,
    BenchService,
    BenchUsersService,
)

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": URLRouter(
            [
                *service_urls(BenchService, BenchUsersService),
                path("bare", BareEcho.as_asgi()),
                path("bare-nocleanup", BareEchoNoCleanup.as_asgi()),
            ]
        ),
    }
)

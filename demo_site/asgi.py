"""ASGI entry point of the demo: HTTP through Django, WebSockets to App Services."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "demo_site.settings")
# Set Django up before importing anything that touches models or settings.
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.conf import settings  # noqa: E402
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler  # noqa: E402

from appws.server.routing import service_urls  # noqa: E402
from demo_site.notes.services import NotesService  # noqa: E402
from demo_site.services import EchoService  # noqa: E402

if settings.DEBUG:
    # The demo's daphne serves the admin's CSS and scripts itself, as runserver
    # does; a deployment collects them and lets the web server serve them.
    django_asgi_app = ASGIStaticFilesHandler(django_asgi_app)

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": URLRouter(service_urls(EchoService, NotesService)),
    }
)

"""The demo's URLs plus a view that sends an indication, as a site's own views would."""

import json

from django.http import HttpRequest, JsonResponse
from django.urls import include, path
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

import appws


@csrf_exempt  # a test hook on loopback only
@require_POST
def notify_view(request: HttpRequest) -> JsonResponse:
    body = json.loads(request.body)
    appws.notify(body["topic"], body["message"])
    return JsonResponse({"ok": True})


def digests_view(request: HttpRequest) -> JsonResponse:
    from tests.e2e.digests import counts

    return JsonResponse(counts)


urlpatterns = [
    path("test/notify", notify_view),
    path("test/digests", digests_view),
    path("", include("demo_site.urls")),
]

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


@csrf_exempt  # a test hook on loopback only
@require_POST
def pbx_view(request: HttpRequest) -> JsonResponse:
    """Call a connected PBX from a view, as a site's own views would."""
    import appws.pbx
    from appws.exceptions import PeerRequestError

    body = json.loads(request.body)
    try:
        reply = appws.pbx.request(body["app"], body["message"], api=body["api"], timeout=5)
    except PeerRequestError as error:
        return JsonResponse({"error": type(error).__name__, "text": str(error)}, status=502)
    return JsonResponse({"reply": reply})


@csrf_exempt  # a test hook on loopback only
@require_POST
async def service_call_view(request: HttpRequest) -> JsonResponse:
    """Log in to another service through the PBX and call it, as a site's views would."""
    import appws.pbx
    from appws.client import AppwsClientError
    from appws.exceptions import PeerRequestError

    body = json.loads(request.body)
    try:
        async with appws.pbx.connect_service(body["app"], body["service"]) as client:
            reply = await client.request(body["message"])
    except (PeerRequestError, AppwsClientError) as error:
        return JsonResponse({"error": type(error).__name__, "text": str(error)}, status=502)
    return JsonResponse({"reply": reply})


async def services_view(request: HttpRequest, app: str) -> JsonResponse:
    import appws.pbx

    return JsonResponse({"services": [s.as_dict() for s in await appws.pbx.aservices(app)]})


@csrf_exempt  # a test hook on loopback only
@require_POST
def badge_view(request: HttpRequest) -> JsonResponse:
    """Set a badge count from a view, as a site's own views would."""
    from appws import badges
    from appws.exceptions import PeerRequestError

    body = json.loads(request.body)
    try:
        sent = badges.set(body["app"], body["user"], body["count"])
    except PeerRequestError as error:
        return JsonResponse({"error": type(error).__name__, "text": str(error)}, status=502)
    return JsonResponse({"sent": sent})


def digests_view(request: HttpRequest) -> JsonResponse:
    from tests.e2e.digests import counts

    return JsonResponse(counts)


urlpatterns = [
    path("test/notify", notify_view),
    path("test/digests", digests_view),
    path("test/pbx", pbx_view),
    path("test/service-call", service_call_view),
    path("test/services/<str:app>", services_view),
    path("test/badge", badge_view),
    path("", include("demo_site.urls")),
]

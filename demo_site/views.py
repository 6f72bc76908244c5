from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from appws.models import App

from .notes.models import ConnectedPbx


def home(request: HttpRequest) -> HttpResponse:
    apps = []
    if request.user.is_authenticated:
        apps = [
            app
            for app in App.objects.filter(enabled=True)
            if request.user.has_perm(app.access_permission_name)
        ]
    pbxs = ConnectedPbx.objects.filter(connected=True)
    return render(request, "demo_site/home.html", {"apps": apps, "pbxs": pbxs})

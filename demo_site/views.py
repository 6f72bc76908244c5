from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from appws.models import App

from .notes.models import ConnectedPbx
from .notes.pbx_users import listed_users


def home(request: HttpRequest) -> HttpResponse:
    apps = []
    pbx_users, pbx_user_count = [], 0
    if request.user.is_authenticated:
        apps = [
            app
            for app in App.objects.filter(enabled=True)
            if request.user.has_perm(app.access_permission_name)
        ]
        # Names and numbers are personal data: listed for logged-in users only.
        pbx_users, pbx_user_count = listed_users()
    context = {
        "apps": apps,
        "pbxs": ConnectedPbx.objects.filter(connected=True),
        "pbx_users": pbx_users,
        "pbx_user_more": max(pbx_user_count - len(pbx_users), 0),
        # The live list comes through a Notes session (the site's login issuer).
        "pbx_users_live": any(app.name == "notes" for app in apps),
    }
    return render(request, "demo_site/home.html", context)

from django.contrib import admin
from django.urls import include, path

from . import views

urlpatterns = [
    path("", views.home, name="home"),
    path("admin/", admin.site.urls),
    path("appws/", include("appws.urls")),
    path("apps/", include("appws.app_urls")),
    path("accounts/", include("django.contrib.auth.urls")),
]

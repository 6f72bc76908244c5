from django.apps import AppConfig


class AppwsConfig(AppConfig):
    name = "appws"
    verbose_name = "App Services (AppWebsocket)"

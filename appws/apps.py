from django.apps import AppConfig
from django.db.models.signals import m2m_changed, post_delete, post_init, post_save


class AppwsConfig(AppConfig):
    name = "appws"
    verbose_name = "App Services"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from appws import signals
        from appws.checks import register_checks
        from appws.layer import capacity
        from appws.models import App
        from appws.pbx.appservices.feature import services_feature
        from appws.pbx.badges.feature import badges
        from appws.pbx.registry import registry
        from appws.pbx.users.replicator import replicator
        from appws.server import features

        capacity.install()
        # Every PBX session records its PBX in the database (appws.pbx finds it there).
        features.register(registry)
        # After the registry: the services a PBX lists are written into its row.
        features.register(services_feature)
        # Badge counts on App icons, for services with badge_apps (after the row is written).
        features.register(badges)
        # Services with replicate_users copy their PBX's user table (appws.pbx.users).
        features.register(replicator)

        post_save.connect(signals.on_app_saved, sender=App, dispatch_uid="appws-app-saved")
        post_delete.connect(signals.on_app_deleted, sender=App, dispatch_uid="appws-app-deleted")
        post_init.connect(signals.on_app_loaded, sender=App, dispatch_uid="appws-app-loaded")
        m2m_changed.connect(
            signals.on_permissions_changed,
            sender=App.permissions.through,
            dispatch_uid="appws-app-permissions",
        )
        register_checks()

from django.apps import AppConfig


class NotesConfig(AppConfig):
    name = "demo_site.notes"
    label = "notes"
    verbose_name = "Demo: shared notes"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Connects the receiver that follows the PBX's users (grants, the live list).
        from . import pbx_users  # noqa: F401

from django.apps import AppConfig


class NotesConfig(AppConfig):
    name = "demo_site.notes"
    label = "notes"
    verbose_name = "Demo: shared notes"
    default_auto_field = "django.db.models.BigAutoField"

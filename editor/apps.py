from django.apps import AppConfig


class EditorConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "editor"

    def ready(self) -> None:
        from .domain import signals  # noqa: F401  (connects the receivers)

from django.apps import AppConfig


class EditorConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "editor"

    def ready(self) -> None:
        # The domain announces through signals; the real-time layer listens. Neither
        # import is used here: importing connects the receivers.
        from .domain import signals  # noqa: F401
        from .realtime import listeners  # noqa: F401

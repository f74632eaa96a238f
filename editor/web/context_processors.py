from django.conf import settings


def features(request):
    """Switches and limits the templates need."""
    return {
        "signup_enabled": settings.COLLAB_SIGNUP_ENABLED,
        "login_cooloff_minutes": f"{settings.COLLAB_LOGIN_COOLOFF_MINUTES:g}",
    }

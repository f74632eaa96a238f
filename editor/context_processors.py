from django.conf import settings


def features(request):
    """Switches the templates need."""
    return {"signup_enabled": settings.COLLAB_SIGNUP_ENABLED}

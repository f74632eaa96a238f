"""ASGI entry point: HTTP through Django, WebSockets through Channels."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "collab.settings")
# Django must be set up before the consumers (and their models) are imported.
django_asgi_app = get_asgi_application()

from django.conf import settings  # noqa: E402

from collab import backlog, shutdown  # noqa: E402
from collab.origin import OriginValidator  # noqa: E402
from collab.protocols import ProtocolRouter  # noqa: E402
from editor.realtime.routing import Router, websocket_urlpatterns  # noqa: E402

backlog.install(settings.COLLAB_MAX_BACKLOG_BYTES)
shutdown.install(settings.COLLAB_SHUTDOWN_GRACE_SECONDS)

application = ProtocolRouter(
    {
        # /static/ is served by ServeStatic's middleware (see settings.MIDDLEWARE)
        # unless a web server in front does (COLLAB_SERVE_STATIC=0).
        "http": django_asgi_app,
        "websocket": OriginValidator(Router(websocket_urlpatterns)),
    }
)

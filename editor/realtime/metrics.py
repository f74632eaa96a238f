"""``GET /metrics``: this process's figures in Prometheus's text format.

Per process (daphne serves one): scrape every daphne on its own port. Who may read
them: anyone presenting ``Authorization: Bearer <COLLAB_METRICS_TOKEN>`` when that is
set; otherwise only clients on the loopback interface (behind nginx, whose requests
carry the browser's address once daphne runs with ``--proxy-headers``, and which
answers 404 for ``/metrics`` anyway). Everyone else gets 403.
"""

from __future__ import annotations

import hmac
import ipaddress
import time
from contextlib import contextmanager

from django.conf import settings
from django.http import HttpResponse
from django.views.decorators.cache import never_cache
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

OPEN_SOCKETS = Gauge("collab_open_sockets", "WebSocket connections signed in and admitted to a document")
DOCUMENTS_OPEN = Gauge("collab_documents_open", "Documents with at least one joined connection here")
OPS_COMMITTED = Counter("collab_ops_committed", "Ops committed as new revisions by this process")
COMMIT_SECONDS = Histogram(
    "collab_commit_seconds",
    "From an op's arrival at its document's hub to its commit (or refusal), in seconds",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
CATCHUPS = Counter("collab_catchups", "Joins answered, by how: the missed revisions or a snapshot", ["kind"])
REFUSALS = Counter(
    "collab_refusals",
    "Messages refused with an error (by error code) and sockets closed for a reason (by close code)",
    ["code"],
)


def _open_sockets() -> int:
    from . import consumers

    return sum(consumers._sockets_per_user.values())


def _documents_open() -> int:
    from .hubs import hubs

    return len(hubs)


OPEN_SOCKETS.set_function(_open_sockets)
DOCUMENTS_OPEN.set_function(_documents_open)


@contextmanager
def commit_timer():
    """Time one op's way through its hub's commit."""
    start = time.perf_counter()
    try:
        yield
    finally:
        COMMIT_SECONDS.observe(time.perf_counter() - start)


def refused(code: str | int) -> None:
    """Count a refusal: an error code (``rate_limited``) or a close code (``4403``)."""
    REFUSALS.labels(str(code)).inc()


def allowed(request) -> bool:
    """Whether ``request`` may read the metrics (see the module's docstring)."""
    token = settings.COLLAB_METRICS_TOKEN
    if token:
        given = request.headers.get("Authorization", "")
        return hmac.compare_digest(given.encode(), f"Bearer {token}".encode())
    try:
        return ipaddress.ip_address(request.META.get("REMOTE_ADDR", "")).is_loopback
    except ValueError:
        return False


@never_cache
def metrics(request):
    """The Prometheus exposition of this process's registry."""
    if not allowed(request):
        return HttpResponse("forbidden\n", status=403, content_type="text/plain")
    return HttpResponse(generate_latest(REGISTRY), content_type=CONTENT_TYPE_LATEST)

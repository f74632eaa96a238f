"""The static files handler daphne serves /static/ through, with bad paths answered 404."""

from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler
from django.core.exceptions import SuspiciousOperation
from django.http import Http404


class StaticFilesHandler(ASGIStaticFilesHandler):
    """Django's handler, except that a path escaping the static directories (``..%2f``)
    or one no file system accepts (a NUL) is a missing file (404), not a server error."""

    def serve(self, request):
        try:
            return super().serve(request)
        except (SuspiciousOperation, ValueError) as exc:
            raise Http404("no such file") from exc

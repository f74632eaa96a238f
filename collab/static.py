"""The static files middleware daphne serves /static/ through, with bad paths answered 404."""

from django.core.exceptions import SuspiciousOperation
from django.http import Http404
from servestatic.middleware import ServeStaticMiddleware
from servestatic.responders import MissingFileError


class StaticFilesMiddleware(ServeStaticMiddleware):
    """ServeStatic, except that a file it cannot find is a 404 in debug too.

    In debug ServeStatic answers a missing file under /static/ with an error (a 500),
    which a path escaping the static directories (``..%2f``) or one no file system
    accepts (a NUL) would also get.
    """

    async def __call__(self, request):
        try:
            return await super().__call__(request)
        except (MissingFileError, SuspiciousOperation, ValueError) as exc:
            raise Http404("no such file") from exc

"""Static files with content-hashed names, for production (``DJANGO_DEBUG=0``).

``collectstatic`` writes every file under a name that carries a hash of its content
(``editor/ot.3f2a….js``) and rewrites references to it, including the ES-module
``import … from "./ot.js"`` lines of the editor's scripts, so a page always loads one
consistent set of modules: after a deploy, old pages keep the old files' names and new
pages get the new ones, and every hashed file can be cached for good.
"""

from django.contrib.staticfiles.storage import ManifestStaticFilesStorage


class HashedStaticStorage(ManifestStaticFilesStorage):
    """Django's manifest storage, also rewriting ``import``/``export … from`` paths."""

    support_js_module_import_aggregation = True

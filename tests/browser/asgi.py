"""The project's ASGI application with its static files served, as ``runserver`` does.

daphne serves no static files by itself and ``collab/asgi.py`` adds no handler for
them, so under the bare application the editor page would load without its scripts.
"""

from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler

from collab.asgi import application as project_application

application = ASGIStaticFilesHandler(project_application)

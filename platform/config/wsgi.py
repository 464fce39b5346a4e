"""WSGI entry point: ``PYTHONPATH=platform gunicorn config.wsgi`` (or ``--pythonpath platform``)."""

import os

from django.core.wsgi import get_wsgi_application

from config.paths import add_source_roots

add_source_roots()
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
application = get_wsgi_application()

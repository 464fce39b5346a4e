"""ASGI entry point: ``PYTHONPATH=platform uvicorn config.asgi:application``."""

import os

from django.core.asgi import get_asgi_application

from config.paths import add_source_roots

add_source_roots()
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
application = get_asgi_application()

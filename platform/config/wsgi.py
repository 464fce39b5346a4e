"""WSGI entry points: ``PYTHONPATH=platform gunicorn config.wsgi`` (or ``--pythonpath platform``).

``application`` is Django; ``fast_application`` (what ``scripts/serve-prod.sh`` serves) is Django
behind ``cases.dicomweb_fast``, which answers a viewer's repeated frame requests of a study that
Django has just allowed without going through Django again.
"""

import os

from django.core.wsgi import get_wsgi_application

from config.paths import add_source_roots

add_source_roots()
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
application = get_wsgi_application()

# Imported once Django is set up: the fast path reads settings and the database's models.
from cases.dicomweb_fast import FramesFastPath  # noqa: E402

fast_application = FramesFastPath(application)

"""WSGI entry point, for serving plain HTTP on a WSGI server if wanted (websockets need ASGI)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "contactcenter.settings")
application = get_wsgi_application()

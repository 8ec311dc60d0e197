import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "herochecklist.settings")

application = get_wsgi_application()

# gunicorn never runs system checks; without this an unsafe production configuration would serve traffic.
from core.checks import enforce_configuration  # noqa: E402

enforce_configuration()

# Loaded here rather than by the URLconf (checklists/urls.py says why): the first /mcp call of a worker is not slower.
import checklists.mcp_server  # noqa: E402, F401

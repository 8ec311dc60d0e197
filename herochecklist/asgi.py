import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "herochecklist.settings")

application = get_asgi_application()

from core.checks import enforce_configuration  # noqa: E402

enforce_configuration()

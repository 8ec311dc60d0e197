import os

from celery import Celery
from celery.signals import worker_init

from core.checks import enforce_configuration

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "herochecklist.settings")

app = Celery("herochecklist")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_init.connect
def _refuse_unsafe_configuration(**kwargs):
    # A worker holds the same secrets as the web nodes, so it refuses the same unsafe settings.
    enforce_configuration()

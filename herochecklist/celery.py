import logging
import os

from celery import Celery
from celery.signals import setup_logging, task_prerun, worker_init

from core import context
from core.checks import enforce_configuration

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "herochecklist.settings")

# core.tasks: no task is queued to run later than the broker keeps it from being given out again.
app = Celery("herochecklist", task_cls="core.tasks:BoundedDelayTask")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_init.connect
def _refuse_unsafe_configuration(**kwargs):
    # A worker holds the same secrets as the web nodes, so it refuses the same unsafe settings.
    enforce_configuration()


@setup_logging.connect
def _keep_the_scrubbing_log(loglevel=None, **kwargs):
    """Workers and beat log through settings.LOGGING (JSON lines, scrubbed: core/logging.py), as Django set it up.
    Without a receiver here Celery takes over the root logger: it drops our handler for its own plain-text one, so
    every worker line (a task's exception quoting its arguments, an address a mail server refused, item text in a
    traceback) went out unscrubbed. Only the level of `-l` is taken from Celery."""
    if loglevel:
        logging.getLogger().setLevel(loglevel)


@task_prerun.connect
def _fresh_context_per_task(task=None, **kwargs):
    """A worker process runs task after task: what one marked (its site's clientKey and issue key, item text to
    scrub) must not label the next one's log lines, nor pile up for the life of the process. An eager task runs
    inside the request (or task) that called it and keeps that context."""
    if task is None or not task.request.is_eager:
        context.reset()

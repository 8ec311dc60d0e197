"""The base class of every Celery task of the project (herochecklist/celery.py: the app's task_cls).

A worker fetches a task with a countdown at once and holds it, unacknowledged, until it is due. The Redis broker
hands a task that stays unacknowledged for CELERY_VISIBILITY_TIMEOUT to a worker again (that is how a killed
worker's tasks are recovered), so a task due later than that was delivered again every visibility timeout while it
waited, and every copy ran when due. A retry after a long Retry-After (Jira's, HubSpot's) or a long backoff did
that, and when the copies failed again each queued its own retry: the copies multiplied with every retry.

So no task is queued to run later than MAX_DELAY_SHARE of the visibility timeout from now: the rest of it is left
for the wait behind other tasks and the run itself, which must also end before the broker gives the task out again.
A task whose caller wanted it later runs early instead: every one of ours can (a push finds nothing to do, or asks
again and is told to wait again), where a duplicate runs its whole work a second time."""

import datetime
import logging

from celery import Task
from django.conf import settings

logger = logging.getLogger(__name__)

MAX_DELAY_SHARE = 0.5


def max_delay_seconds() -> float:
    """The latest a task may be queued to run, in seconds from now."""
    return settings.CELERY_VISIBILITY_TIMEOUT * MAX_DELAY_SHARE


def bounded_delay(options: dict) -> dict:
    """apply_async's options with `countdown` or `eta` brought within max_delay_seconds()."""
    most = max_delay_seconds()
    countdown = options.get("countdown")
    if countdown is not None and countdown > most:
        logger.info("task delay shortened to within the broker's visibility timeout", extra={"asked": countdown})
        options = {**options, "countdown": most}
    eta = options.get("eta")
    if isinstance(eta, datetime.datetime):
        now = datetime.datetime.now(eta.tzinfo)  # naive or aware, as the eta is
        if (eta - now).total_seconds() > most:
            logger.info("task delay shortened to within the broker's visibility timeout")
            options = {**options, "eta": now + datetime.timedelta(seconds=most)}
    return options


class BoundedDelayTask(Task):
    """Every way a task is queued (delay, apply_async, a retry, a task looked up by name) ends in apply_async."""

    def apply_async(self, args=None, kwargs=None, task_id=None, producer=None, link=None, link_error=None, **options):
        return super().apply_async(
            args, kwargs, task_id=task_id, producer=producer, link=link, link_error=link_error, **bounded_delay(options)
        )

"""Celery tasks stay thin: they take ids, re-read, and call a service. Both are safe to run twice."""

import logging
import random

from celery import shared_task
from django.conf import settings
from django.core.cache import cache

from tenants.jira import JiraError

from .sync import checklist_progress_push

logger = logging.getLogger(__name__)

_PENDING = "progress-sync-pending:{}"


def schedule_progress_sync(checklist_id) -> None:
    """Queue one property write per burst of edits: the first edit schedules it, the task reads the state when it
    runs, so later edits of the same burst are included. Called after commit, never inside a transaction."""
    if cache.add(_PENDING.format(checklist_id), 1, timeout=max(60, int(settings.PROGRESS_SYNC_DELAY_SECONDS * 10))):
        checklist_progress_sync_task.apply_async(
            args=[str(checklist_id)], countdown=settings.PROGRESS_SYNC_DELAY_SECONDS
        )


@shared_task(bind=True, max_retries=8, acks_late=True, ignore_result=True)
def checklist_progress_sync_task(self, checklist_id: str) -> None:
    # Clear the marker before reading: an edit that lands after this point schedules a fresh task.
    cache.delete(_PENDING.format(checklist_id))
    try:
        checklist_progress_push(checklist_id=checklist_id)
    except JiraError as exc:
        if not exc.retryable:
            logger.warning("progress sync gave up", extra={"status": exc.status})
            return
        base = settings.PROGRESS_SYNC_RETRY_BASE_SECONDS
        countdown = min(600, base * 2**self.request.retries + random.uniform(0, base))
        raise self.retry(exc=exc, countdown=countdown) from exc

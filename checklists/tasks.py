"""Celery tasks stay thin: they take ids, re-read, and call a service. All are safe to run twice.

A checklist's progress property is kept in step two ways: each write schedules a debounced push (below), and a
periodic sweep (Celery beat) queues one for every checklist whose `property_synced_version` is behind its `version`,
so a push lost to a broker outage, an unreachable Jira or exhausted retries is made up for within minutes."""

import logging
import random

import redis
from celery import shared_task
from django.conf import settings

from core.counters import flag_add, flag_clear, flag_set
from core.metrics import PROGRESS_SWEEP_QUEUED
from tenants.jira import JiraError

from .sync import checklist_progress_push, checklists_behind_on_progress

logger = logging.getLogger(__name__)

_PENDING = "progress-sync-pending:{}"


def _marker(call, *args, **kwargs):
    """The pending marker only spares Jira duplicate pushes: with the cache Redis down, a push is queued (and run)
    without it, rather than lost until the cache is back (flag_add raised, so no write queued its push, the sweep
    stopped at its first checklist, and a queued task failed before it pushed). None when the cache failed."""
    try:
        return call(*args, **kwargs)
    except redis.RedisError:
        logger.warning("progress sync: pending marker unavailable", exc_info=True)
        return None


def schedule_progress_sync(checklist_id) -> bool:
    """Queue one property write per burst of edits: the first edit schedules it, the task reads the state when it
    runs, so later edits of the same burst are included. Called after commit, never inside a transaction.

    Without a broker (no REDIS_URL: tasks would run eagerly, inside the request) nothing is queued: an outbound
    call to Jira, with its retries, must never hold up a user's write. The sweep catches up once a worker runs.
    Returns whether a task was queued.

    The marker first: most edits are a burst's later ones, which find it up and need to know nothing more (asking
    Celery's configuration whether there is a broker cost a third as much as the marker's round trip). Without a
    broker the marker this call raised goes again at once."""
    key = _PENDING.format(checklist_id)
    if _marker(flag_add, key, ttl_seconds=max(60, int(settings.PROGRESS_SYNC_DELAY_SECONDS * 10))) is False:
        return False
    if checklist_progress_sync_task.app.conf.task_always_eager:
        logger.debug("no broker: progress sync left to the sweep")
        _marker(flag_clear, key)
        return False
    try:
        checklist_progress_sync_task.apply_async(
            args=[str(checklist_id)], countdown=settings.PROGRESS_SYNC_DELAY_SECONDS
        )
    except Exception:
        # Not queued (broker down): drop the marker so the next edit, or the sweep, queues it instead.
        _marker(flag_clear, key)
        raise
    return True


@shared_task(bind=True, max_retries=8, acks_late=True, ignore_result=True)
def checklist_progress_sync_task(self, checklist_id: str) -> None:
    key = _PENDING.format(checklist_id)
    # Clear the marker before reading: an edit that lands after this point schedules a fresh task.
    _marker(flag_clear, key)
    try:
        checklist_progress_push(checklist_id=checklist_id)
    except JiraError as exc:
        if not exc.retryable:
            logger.warning("progress sync gave up", extra={"status": exc.status})
            return
        base = settings.PROGRESS_SYNC_RETRY_BASE_SECONDS
        countdown = min(600, base * 2**self.request.retries + random.uniform(0, base))
        # While the retry waits, edits and the sweep need not queue another push: the retry reads the latest state.
        _marker(flag_set, key, ttl_seconds=int(countdown) + 60)
        raise self.retry(exc=exc, countdown=countdown) from exc


@shared_task(acks_late=True, ignore_result=True)
def checklist_progress_sweep_task() -> int:
    """Every PROGRESS_SWEEP_INTERVAL_SECONDS (beat): queue a push for each checklist whose property is behind."""
    queued = 0
    for checklist_id in checklists_behind_on_progress():
        if checklist_progress_sync_task.app.conf.task_always_eager:
            checklist_progress_sync_task.apply(args=[str(checklist_id)])  # run here: this is not a request
            queued += 1
        elif schedule_progress_sync(checklist_id):
            queued += 1
    if queued:
        PROGRESS_SWEEP_QUEUED.inc(queued)
        logger.info("progress sweep queued syncs", extra={"count": queued})
    return queued

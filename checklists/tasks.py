"""Celery tasks stay thin: they take ids, re-read, and call a service. All are safe to run twice.

A checklist's progress property is kept in step two ways: each write schedules a debounced push (below), and a
periodic sweep (Celery beat) queues one for every checklist whose `property_synced_version` is behind its `version`,
so a push lost to a broker outage, an unreachable Jira or exhausted retries is made up for within minutes."""

import logging
import random
import time

import redis
from celery import shared_task
from django.conf import settings

from core.breaker import warn_unless_skipped
from core.counters import flag_add_or_read, flag_clear, flag_replace, flag_set
from core.metrics import PROGRESS_SWEEP_QUEUED
from core.retry import retry_after_seconds
from tenants.jira import JiraError

from .sync import checklist_progress_failed, checklist_progress_push, checklists_behind_on_progress

logger = logging.getLogger(__name__)

_PENDING = "progress-sync-pending:{}"


def _marker(call, *args, **kwargs):
    """The pending marker only spares Jira duplicate pushes: with the cache Redis down, a push is queued (and run)
    without it, rather than lost until the cache is back (flag_add raised, so no write queued its push, the sweep
    stopped at its first checklist, and a queued task failed before it pushed). None when the cache failed."""
    try:
        return call(*args, **kwargs)
    except redis.RedisError as exc:
        warn_unless_skipped(logger, exc, "progress sync: pending marker unavailable", exc_info=True)
        return None


# What this process knows of queued pushes: checklist id -> a time on this process's monotonic clock before which the
# push queued for it (by any process) cannot have started. The marker's value is that push's due time (its
# countdown's end, on the wall clock of the process that queued it: the wall clock is read once, when learning it, so
# a later step of this host's clock changes nothing).
_queued_until: dict[str, float] = {}
MAX_QUEUED_KNOWN = 4096  # checklists remembered per process (beyond this it starts over: that costs round trips only)
# How much earlier than a push's due time this process stops relying on it: more than the clocks of web and worker
# hosts can disagree (NTP keeps them within milliseconds) plus the time between reading the clock and queueing.
DUE_MARGIN_SECONDS = 0.2
# The marker's value while its push is being queued: no due time, so no process relies on it yet.
_QUEUEING = b"queueing"


def schedule_progress_sync(checklist_id) -> bool:
    """Queue one property write per burst of edits: the first edit schedules it, the task reads the state when it
    runs, so later edits of the same burst are included. Called after commit, never inside a transaction.

    Without a broker (no REDIS_URL: tasks would run eagerly, inside the request) nothing is queued: an outbound
    call to Jira, with its retries, must never hold up a user's write. The sweep catches up once a worker runs.
    Returns whether a task was queued.

    The marker first: most edits are a burst's later ones, which find it up and need to know nothing more (asking
    Celery's configuration whether there is a broker cost a third as much as the marker's round trip). Without a
    broker the marker this call raised goes again at once.

    Once its push is queued the marker holds the push's due time, and each process remembers it: until shortly
    before then, this process's later edits of the checklist skip the round trip. That is safe because this is
    called after the edit committed and the push cannot start before it is due (Celery runs a countdown's task no
    earlier), so the push reads the edit. Until the push is queued the marker holds no due time (_QUEUEING): an edit
    that finds it then relies on nothing, so a queueing that fails (broker down) leaves no process skipping its
    edits' round trips. Issue #21: the round trip was about a tenth of a PATCH's CPU, and nearly every PATCH of a
    burst made it."""
    known = str(checklist_id)
    if _queued_until.get(known, 0.0) > time.monotonic():
        return False
    key = _PENDING.format(checklist_id)
    delay = settings.PROGRESS_SYNC_DELAY_SECONDS
    ttl = max(60, int(delay * 10))
    marked = _marker(flag_add_or_read, key, ttl_seconds=ttl, value=_QUEUEING)
    if marked is not None and not marked[0]:
        _remember_due(known, marked[1])
        return False
    if checklist_progress_sync_task.app.conf.task_always_eager:
        logger.debug("no broker: progress sync left to the sweep")
        _marker(flag_clear, key)
        return False
    due = b"%.3f" % (time.time() + delay)  # read before queueing: the push's own countdown ends a little later
    try:
        checklist_progress_sync_task.apply_async(args=[known], countdown=delay)
    except Exception:
        # Not queued (broker down): drop the marker so the next edit, or the sweep, queues it instead.
        _marker(flag_clear, key)
        raise
    if marked is not None and _marker(flag_replace, key, ttl_seconds=ttl, value=due):
        _remember_due(known, due)
    return True


def forget_queued_pushes() -> None:
    """This process forgets the pushes it knows to be queued (tests: a new test's database and Redis start over)."""
    _queued_until.clear()


def _remember_due(checklist_id: str, due: bytes | None) -> None:
    """Remember until when the push queued for this checklist is sure not to have started, from the marker's value
    (nothing when it holds none: a retry's marker, or one gone meanwhile). Never further off than this process's own
    delay: a due time beyond it comes from a host whose clock runs ahead, and relying on it that long skipped every
    edit's round trip for as long as the clocks disagreed, well after the marker itself had gone."""
    now = time.time()
    try:
        left = min(float(due), now + settings.PROGRESS_SYNC_DELAY_SECONDS) - DUE_MARGIN_SECONDS - now  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return
    if left <= 0:
        return
    if checklist_id not in _queued_until and len(_queued_until) >= MAX_QUEUED_KNOWN:
        _queued_until.clear()
    _queued_until[checklist_id] = time.monotonic() + left


@shared_task(bind=True, max_retries=8, acks_late=True, ignore_result=True)
def checklist_progress_sync_task(self, checklist_id: str) -> None:
    key = _PENDING.format(checklist_id)
    # Clear the marker before reading: an edit that lands after this point schedules a fresh task. (A push runs
    # before it is due only when called directly, as tests and the sweep do: this process forgets the due time.)
    _queued_until.pop(checklist_id, None)
    _marker(flag_clear, key)
    try:
        checklist_progress_push(checklist_id=checklist_id)
    except JiraError as exc:
        if not exc.retryable:
            logger.warning("progress sync gave up", extra={"status": exc.status})
            checklist_progress_failed(checklist_id=checklist_id)  # the sweep puts it last for a while
            return
        if self.request.retries >= self.max_retries:
            checklist_progress_failed(checklist_id=checklist_id)  # self.retry raises exc: the last try failed
        base = settings.PROGRESS_SYNC_RETRY_BASE_SECONDS
        countdown = min(600, base * 2**self.request.retries + random.uniform(0, base))
        # A 429's Retry-After longer than the client waits in line (tenants/jira.py) is waited here, whole: retrying
        # sooner only draws another 429. Bounded, so an absurd one cannot park the push (and its marker) for days.
        asked = retry_after_seconds(exc.retry_after)
        if asked is not None:
            countdown = max(countdown, asked + random.uniform(0, base))
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

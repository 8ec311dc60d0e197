"""Countdowns longer than the broker's visibility timeout (core/countdown.py), through a real Redis and worker."""

import pytest
import redis
from celery import current_app

from checklists.models import Checklist
from checklists.tasks import checklist_progress_sync_task
from core.countdown import DUE_HEADER, bounded_options, max_countdown
from tests.conftest import wait_for

VISIBILITY = 6
TIME_LIMIT = 2


def _drained(broker_url: str, queue: str) -> bool:
    """Nothing of the test's queue waits in Redis and no worker holds a message unacknowledged (kombu's keys)."""
    client = redis.Redis.from_url(broker_url)
    try:
        waiting = sum(client.llen(key) for key in client.keys(f"{queue}*"))
        return waiting == 0 and client.hlen("unacked") == 0
    finally:
        client.close()


@pytest.mark.slow(seconds=13)
def test_a_countdown_past_the_visibility_timeout_runs_the_task_once(
    tenant, standin, settings, start_worker, broker_url
):
    """A push due in twice the visibility timeout. Before, the worker held its message unacknowledged for the whole
    countdown; Redis handed it out again after the timeout, and both copies ran: two writes to Jira. Jira refuses
    each write for good (403), so each copy that runs writes (a refused push leaves the checklist behind)."""
    settings.CELERY_VISIBILITY_TIMEOUT = VISIBILITY  # the sender bounds the countdown by the workers' timeout
    settings.CELERY_TASK_TIME_LIMIT = TIME_LIMIT
    checklist = Checklist.objects.create(tenant=tenant, issue_id="10001", issue_key="DEMO-1", version=1)
    standin.fail_next = [403] * 5
    checklist_progress_sync_task.apply_async(args=[str(checklist.id)], countdown=2 * VISIBILITY)
    queue = current_app.conf.task_default_queue
    start_worker(CELERY_VISIBILITY_TIMEOUT=VISIBILITY, CELERY_TASK_TIME_LIMIT=TIME_LIMIT, CELERY_TASK_SOFT_TIME_LIMIT=1)

    puts = lambda: [c for c in standin.recorded if c.method == "PUT"]  # noqa: E731
    assert wait_for(lambda: puts() and _drained(broker_url, queue), 120), puts()
    assert len(puts()) == 1
    checklist.refresh_from_db()
    assert checklist.property_sync_failed_at is not None  # the one run that counted gave up, as it should


def test_bounded_options_keep_the_whole_wait_in_a_header(settings):
    settings.CELERY_VISIBILITY_TIMEOUT = 3600
    settings.CELERY_TASK_TIME_LIMIT = 180
    step = max_countdown()
    assert step == 3600 - 180 - 300
    long = bounded_options({"countdown": 7200.0, "headers": {"other": 1}}, now=1000.0)
    assert long["countdown"] == step and long["headers"] == {"other": 1, DUE_HEADER: 8200.0}
    # A short countdown goes as it is; a due time left over from an earlier send (a retry's) is dropped.
    short = bounded_options({"countdown": 30, "headers": {DUE_HEADER: 5.0}}, now=1000.0)
    assert short["countdown"] == 30 and short["headers"] is None
    # A task's own longer time limit leaves less room; never less than a one-second step.
    assert max_countdown(3000) == 300
    assert max_countdown(3600) == 1.0
